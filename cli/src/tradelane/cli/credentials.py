"""The local admin token: created by ``tradelane up`` on first start, kept in the state directory.

Whoever can run commands as this machine's user can already reach the database, which is
the bootstrap authority (``tradelane tokens`` writes it directly), so keeping an admin token
in ``<state_dir>/admin-token`` (mode 0600) gives nothing away and lets the CLI call the
gateway without flags. ``TRADELANE_TOKEN`` overrides the file.
"""

from __future__ import annotations

import contextlib
import getpass
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import asyncpg

from tradelane.contracts.envelope import utc_now
from tradelane.runtime.private_files import write_private_file
from tradelane.store.audit import CLI_METHOD, AuditEntry, AuditRepository
from tradelane.store.auth import Scope, TokenNameTakenError, TokenRecord, TokenRepository

ADMIN_TOKEN_FILE: Final = "admin-token"  # noqa: S105 - a file name, not a secret
TOKEN_VARIABLE: Final = "TRADELANE_TOKEN"  # noqa: S105 - a variable name, not a secret
BOOTSTRAP_NAME: Final = "admin"


def admin_token_path(state_dir: Path) -> Path:
    return state_dir / ADMIN_TOKEN_FILE


def find_token(env: Mapping[str, str], state_dir: Path) -> tuple[str, str] | None:
    """The token the CLI calls the gateway with, and where it came from: ``TRADELANE_TOKEN``, else the file."""
    if env.get(TOKEN_VARIABLE, "").strip():
        return env[TOKEN_VARIABLE].strip(), TOKEN_VARIABLE
    path = admin_token_path(state_dir)
    with contextlib.suppress(FileNotFoundError):
        secret = path.read_text(encoding="utf-8").strip()
        if secret:
            return secret, str(path)
    return None


def operator() -> str:
    """Who runs this command, for the audit trail: ``user@host``."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


async def audit_cli(pool: asyncpg.Pool[Any], command: str, token: TokenRecord, what: str) -> None:
    """Record a token created or revoked by the CLI in the audit trail."""
    summary = f"{what} token {token.name!r} (id {token.id}, scope {token.scope})"
    if token.expires_at is not None:
        summary += f", expires {token.expires_at.isoformat()}"
    await AuditRepository(pool).append(
        AuditEntry(method=CLI_METHOD, path=command, status=0, summary=summary, client=operator())
    )


@dataclass(frozen=True)
class AdminToken:
    """What ``tradelane up`` says about the local admin token: its file, and its secret if just created."""

    path: Path
    secret: str | None = None
    problem: str | None = None


async def ensure_admin_token(pool: asyncpg.Pool[Any], state_dir: Path) -> AdminToken:
    """Create the local admin token unless the file holds a live one.

    A new one is created only when no live admin token exists at all, so revoking the file's
    token (with another admin token to hand) is not undone by the next start; then the answer
    says what is wrong instead.
    """
    path = admin_token_path(state_dir)
    tokens = TokenRepository(pool)
    now = utc_now()
    with contextlib.suppress(FileNotFoundError):
        current = await tokens.find(path.read_text(encoding="utf-8").strip())
        if current is not None and current.problem(now) is None:
            return AdminToken(path)
    admins = [token for token in await tokens.list(include_revoked=False) if token.scope is Scope.ADMIN]
    if any(token.problem(now) is None for token in admins):
        return AdminToken(
            path,
            problem=f"{path} holds no live token, but another admin token exists, so none was created; "
            "put one there, or set TRADELANE_TOKEN",
        )
    try:
        issued = await tokens.create(BOOTSTRAP_NAME, Scope.ADMIN, created_by="tradelane up")
    except TokenNameTakenError:
        name = f"{BOOTSTRAP_NAME}-{now:%Y%m%d-%H%M%S}"
        issued = await tokens.create(name, Scope.ADMIN, created_by="tradelane up")
    write_private_file(path, issued.secret + "\n")
    await audit_cli(pool, "up", issued.record, "created")
    return AdminToken(path, issued.secret)
