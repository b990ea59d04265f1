"""Files and directories only their owner may read: the state directory and the secrets kept in it.

``tradelane up`` keeps its state (server data, the endpoints it serves on, the credentials it
generates) under one directory; that directory is ``0700`` and every file in it that holds a
secret is ``0600`` from its first byte, never briefly readable by others.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


class SharedDirectoryError(ValueError):
    """The directory is shared with everyone (``/tmp``-like): making it private would break its other users."""


def make_private_dir(path: Path) -> Path:
    """Create ``path`` (and its parents) if missing, and make it ``0700`` even if it existed.

    A directory everyone may write to (``/tmp``, a shared drop folder) is refused, not
    tightened: it belongs to others too, and it is no place for secrets.
    """
    path.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    if path.stat().st_mode & (stat.S_IWOTH | stat.S_ISVTX):
        msg = f"{path} is shared (everyone may write to it); give tradelane a directory of its own for its state"
        raise SharedDirectoryError(msg)
    path.chmod(PRIVATE_DIR_MODE)
    return path


def write_private_file(path: Path, text: str) -> Path:
    """Replace ``path`` atomically with ``text``, as a ``0600`` file; returns ``path``.

    The content goes to a temporary file created ``0600`` beside it, then is renamed over
    ``path``, so a reader sees the old file or the new one, and nobody else ever sees either.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE_MODE)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(text)
    temporary.chmod(PRIVATE_FILE_MODE)  # a stale temporary file of another mode keeps its mode on O_TRUNC
    temporary.replace(path)
    return path
