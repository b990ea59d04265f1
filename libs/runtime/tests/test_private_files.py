"""The state directory is 0700 and the secrets in it 0600, whatever the umask and whoever ran before."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from tradelane.runtime.private_files import SharedDirectoryError, make_private_dir, write_private_file


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """The worst umask a user may have: nothing masked."""
    previous = os.umask(0)
    yield
    os.umask(previous)


@pytest.mark.usefixtures("permissive_umask")
def test_a_private_file_is_0600_from_the_start(tmp_path: Path) -> None:
    path = write_private_file(tmp_path / "secret.json", '{"password": "p"}')
    assert (_mode(path), path.read_text()) == (0o600, '{"password": "p"}')
    assert [entry.name for entry in tmp_path.iterdir()] == ["secret.json"]


@pytest.mark.usefixtures("permissive_umask")
def test_rewriting_a_readable_file_makes_it_private(tmp_path: Path) -> None:
    path = tmp_path / "secret.json"
    path.write_text("old")
    path.chmod(0o644)
    write_private_file(path, "new")
    assert (_mode(path), path.read_text()) == (0o600, "new")


@pytest.mark.usefixtures("permissive_umask")
def test_the_state_directory_is_made_private_new_or_existing(tmp_path: Path) -> None:
    assert _mode(make_private_dir(tmp_path / "new" / "state")) == 0o700
    existing = tmp_path / "existing"
    existing.mkdir(mode=0o755)
    assert _mode(make_private_dir(existing)) == 0o700


def test_a_directory_everyone_may_write_to_is_refused_not_tightened(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    with pytest.raises(SharedDirectoryError, match="shared"):
        make_private_dir(shared)
    assert _mode(shared) == 0o1777
