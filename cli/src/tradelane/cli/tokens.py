"""``tradelane tokens create|list|revoke``: API tokens, written to the database directly.

Access to the database is the bootstrap authority: it is what the first admin token is
created with. Each creation and revocation is written to the audit trail.
"""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

from tradelane.cli.context import CliError, Connections, Console
from tradelane.cli.credentials import audit_cli, operator
from tradelane.cli.format import table
from tradelane.contracts.envelope import utc_now
from tradelane.store.auth import Scope, TokenNameTakenError, TokenRecord, TokenRepository


async def tokens_create(
    connections: Connections, console: Console, name: str, scope: Scope, lifetime: timedelta | None
) -> int:
    """Print the new token's secret alone on stdout (so it can be captured), what it is on stderr."""
    pool = await connections.pool()
    expires_at = utc_now() + lifetime if lifetime is not None else None
    try:
        issued = await TokenRepository(pool).create(name, scope, created_by=f"cli:{operator()}", expires_at=expires_at)
    except TokenNameTakenError as error:
        raise CliError(f"{error}: `tradelane tokens revoke {name}`") from error
    await audit_cli(pool, "tokens create", issued.record, "created")
    console.print(issued.secret)
    until = f"until {issued.record.expires_at:%Y-%m-%d %H:%M}Z" if issued.record.expires_at else "until revoked"
    console.note(f"token {name!r}, scope {scope}, valid {until}: shown this once, keep it now")
    return 0


def _status(token: TokenRecord) -> str:
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at is not None and token.expires_at <= utc_now():
        return "expired"
    return "live"


async def tokens_list(connections: Connections, console: Console, *, json_output: bool) -> int:
    found = await TokenRepository(await connections.pool()).list()
    if json_output:
        for token in found:
            console.json({**token.__dict__, "scope": token.scope.value, "status": _status(token)})
        return 0
    if not found:
        console.print("no tokens; create one with `tradelane tokens create --name NAME --scope SCOPE`")
        return 0
    rows = [
        [t.id, t.name, t.scope.value, _status(t), t.created_at, t.expires_at, t.last_used_at, t.created_by]
        for t in found
    ]
    console.print(table(["ID", "NAME", "SCOPE", "STATUS", "CREATED", "EXPIRES", "LAST USED", "CREATED BY"], rows))
    return 0


async def tokens_revoke(connections: Connections, console: Console, which: str) -> int:
    """Revoke by id, or by the name of a live token."""
    pool = await connections.pool()
    tokens = TokenRepository(pool)
    try:
        token_id: UUID | None = UUID(which)
    except ValueError:
        token_id = None
    target = await tokens.get(token_id) if token_id else await tokens.live_by_name(which)
    if target is None or target.revoked_at is not None:
        raise CliError(f"no live token {'with id' if token_id else 'named'} {which!r}; see `tradelane tokens list`")
    revoked = await tokens.revoke(target.id)
    if revoked is None:  # pragma: no cover - revoked by someone else in between
        raise CliError(f"token {which!r} was revoked meanwhile")
    await audit_cli(pool, "tokens revoke", revoked, "revoked")
    console.print(f"revoked token {revoked.name!r} ({revoked.id}); its web UI sessions ended with it")
    return 0
