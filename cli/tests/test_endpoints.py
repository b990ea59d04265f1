"""Where operator commands find the servers: flags, environment, then what `tradelane up` wrote."""

from __future__ import annotations

import json
import secrets
import stat
from pathlib import Path

import pytest
from pydantic import SecretStr

from tradelane.cli.endpoints import (
    endpoints_path,
    private_endpoints_path,
    remove_endpoints,
    resolve_endpoints,
    write_endpoints,
)
from tradelane.runtime.bus_credentials import credentials_path, load_or_create_credentials
from tradelane.runtime.bus_permissions import OPERATOR, PROVISION
from tradelane.runtime.settings import Settings


@pytest.fixture(autouse=True)
def no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRADELANE_NATS_URL", raising=False)
    monkeypatch.delenv("TRADELANE_DATABASE_URL", raising=False)
    for variable in ("TRADELANE_NATS_USER", "TRADELANE_NATS_PASSWORD", "TRADELANE_NATS_CREDENTIALS_FILE"):
        monkeypatch.delenv(variable, raising=False)


def _written(state_dir: Path) -> None:
    write_endpoints(
        state_dir, nats_url="nats://127.0.0.1:4567", database_url="postgresql:///t", gateway_url="http://g:1"
    )


def test_without_anything_the_defaults_are_used_and_say_how_to_change_them(tmp_path: Path) -> None:
    resolved = resolve_endpoints(Settings(state_dir=tmp_path))
    assert resolved.nats.url == "nats://127.0.0.1:4222"
    assert "TRADELANE_NATS_URL" in resolved.nats.source


def test_what_tradelane_up_wrote_is_used_when_nothing_else_names_a_server(tmp_path: Path) -> None:
    _written(tmp_path)
    resolved = resolve_endpoints(Settings(state_dir=tmp_path))
    assert (resolved.nats.url, resolved.database.url, resolved.gateway_url) == (
        "nats://127.0.0.1:4567",
        "postgresql:///t",
        "http://g:1",
    )
    assert "endpoints.json" in resolved.nats.source


def test_the_environment_wins_over_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _written(tmp_path)
    monkeypatch.setenv("TRADELANE_NATS_URL", "nats://from-env:1")
    resolved = resolve_endpoints(Settings(state_dir=tmp_path))
    assert (resolved.nats.url, resolved.nats.source) == ("nats://from-env:1", "TRADELANE_NATS_URL")
    assert resolved.database.url == "postgresql:///t"


def test_a_flag_wins_over_everything(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _written(tmp_path)
    monkeypatch.setenv("TRADELANE_DATABASE_URL", "postgresql:///env")
    resolved = resolve_endpoints(Settings(state_dir=tmp_path), database_url="postgresql:///flag")
    assert (resolved.database.url, resolved.database.source) == ("postgresql:///flag", "--database-url")


def test_the_file_is_removed_only_by_the_process_that_wrote_it(tmp_path: Path) -> None:
    _written(tmp_path)
    path = endpoints_path(tmp_path)
    path.write_text(json.dumps({**json.loads(path.read_text()), "pid": 1}))
    remove_endpoints(tmp_path)
    assert path.exists()
    _written(tmp_path)
    remove_endpoints(tmp_path)
    assert not path.exists()


def test_endpoints_json_holds_no_password_yet_the_commands_still_get_it(tmp_path: Path) -> None:
    """An external DSN's password goes only to a 0600 file beside endpoints.json, which the commands read back."""
    password = f"pw-{secrets.token_hex(8)}"
    dsn = f"postgresql://trader:{password}@db.internal:5432/tradelane"
    write_endpoints(tmp_path, nats_url="nats://127.0.0.1:4567", database_url=SecretStr(dsn), gateway_url="http://g:1")

    public = endpoints_path(tmp_path)
    assert password not in public.read_text()
    assert json.loads(public.read_text())["database_url"] == "postgresql://trader:***@db.internal:5432/tradelane"
    private = private_endpoints_path(tmp_path)
    assert {stat.S_IMODE(public.stat().st_mode), stat.S_IMODE(private.stat().st_mode)} == {0o600}
    resolved = resolve_endpoints(Settings(state_dir=tmp_path))
    assert (resolved.database.url, resolved.nats.url) == (dsn, "nats://127.0.0.1:4567")
    assert password not in repr(resolved) and password not in resolved.database.shown


def test_without_a_password_no_private_file_is_written(tmp_path: Path) -> None:
    _written(tmp_path)
    assert not private_endpoints_path(tmp_path).exists()


def test_a_password_the_commands_cannot_read_is_named_with_the_variable_to_set(tmp_path: Path) -> None:
    write_endpoints(
        tmp_path, nats_url="nats://n:1", database_url="postgresql://trader:pw-1234@db/t", gateway_url="http://g:1"
    )
    private_endpoints_path(tmp_path).unlink()
    resolved = resolve_endpoints(Settings(state_dir=tmp_path))
    assert resolved.database.url == "postgresql://trader:***@db/t"
    assert "TRADELANE_DATABASE_URL" in resolved.database.source


def test_both_files_are_removed_by_the_process_that_wrote_them(tmp_path: Path) -> None:
    write_endpoints(
        tmp_path, nats_url="nats://n:1", database_url="postgresql://trader:pw-1234@db/t", gateway_url="http://g:1"
    )
    remove_endpoints(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_the_cli_connects_as_operator_with_the_passwords_tradelane_up_keeps(tmp_path: Path) -> None:
    passwords = load_or_create_credentials(credentials_path(tmp_path))
    resolved = resolve_endpoints(Settings(state_dir=tmp_path))
    assert resolved.nats_credentials is not None
    assert resolved.nats_credentials.user == OPERATOR
    assert resolved.nats_credentials.password == passwords[OPERATOR]
    provisioner = resolve_endpoints(Settings(state_dir=tmp_path), identity=PROVISION).nats_credentials
    assert provisioner is not None
    assert provisioner.user == PROVISION


def test_without_credentials_the_cli_connects_anonymously(tmp_path: Path) -> None:
    assert resolve_endpoints(Settings(state_dir=tmp_path)).nats_credentials is None


def test_the_environments_user_wins_over_the_kept_passwords(tmp_path: Path) -> None:
    load_or_create_credentials(credentials_path(tmp_path))
    settings = Settings(state_dir=tmp_path, nats_user="ops-team", nats_password=SecretStr("s3cret"))
    resolved = resolve_endpoints(settings)
    assert resolved.nats_credentials is not None
    assert resolved.nats_credentials.user == "ops-team"
    assert "s3cret" not in repr(resolved)


def test_the_kept_passwords_are_private(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    load_or_create_credentials(credentials_path(state_dir))
    assert stat.S_IMODE(credentials_path(state_dir).stat().st_mode) == 0o600
    assert stat.S_IMODE(state_dir.stat().st_mode) == 0o700
