"""`tradelane tokens`, the local admin token of `tradelane up`, and `tradelane api` against a served gateway."""

from __future__ import annotations

import asyncio
import io
import json
import stat
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import uvicorn

from cli.tests.conftest import Cli, LiveConsole, Result
from tests.support.waiting import eventually
from tradelane.cli.credentials import ensure_admin_token
from tradelane.cli.embedded import free_port
from tradelane.cli.main import main
from tradelane.cli.timespec import parse_lifetime
from tradelane.cli.up import banner
from tradelane.contracts.envelope import utc_now
from tradelane.gateway.app import create_app
from tradelane.gateway.config import GatewaySettings
from tradelane.runtime.settings import Settings
from tradelane.store.audit import AuditFilter, AuditRepository
from tradelane.store.auth import Scope, TokenRepository


async def test_a_created_token_is_printed_once_and_works(cli: Cli, pool: asyncpg.Pool[Any]) -> None:
    created = await cli("tokens", "create", "--name", "grafana", "--scope", "read", "--expires", "90d")
    assert created.code == 0, created.err
    [secret] = created.lines
    assert secret.startswith("tl_")
    assert "'grafana', scope read, valid until" in created.err and "shown this once" in created.err
    token = await TokenRepository(pool).find(secret)
    assert token is not None and token.scope is Scope.READ and token.created_by.startswith("cli:")
    assert token.expires_at is not None
    assert timedelta(days=89) < token.expires_at - utc_now() <= timedelta(days=90)
    listed = await cli("tokens", "list")
    assert secret not in listed.out
    assert "grafana" in listed.lines[1] and "read" in listed.lines[1] and "live" in listed.lines[1]


async def test_tokens_are_listed_as_json_without_secrets(cli: Cli) -> None:
    secret = (await cli("tokens", "create", "--name", "ops", "--scope", "operate")).out.strip()
    [row] = [json.loads(line) for line in (await cli("tokens", "list", "--json")).lines]
    assert (row["name"], row["scope"], row["status"], row["expires_at"]) == ("ops", "operate", "live", None)
    assert secret not in json.dumps(row)


async def test_a_token_is_revoked_by_name_or_id(cli: Cli, pool: asyncpg.Pool[Any]) -> None:
    first = (await cli("tokens", "create", "--name", "a", "--scope", "trade")).out.strip()
    second = (await cli("tokens", "create", "--name", "b", "--scope", "trade")).out.strip()
    by_name = await cli("tokens", "revoke", "a")
    assert by_name.code == 0 and "revoked token 'a'" in by_name.out
    token_b = await TokenRepository(pool).find(second)
    assert token_b is not None
    assert (await cli("tokens", "revoke", str(token_b.id))).code == 0
    for secret in (first, second):
        found = await TokenRepository(pool).find(secret)
        assert found is not None and found.revoked_at is not None
    again = await cli("tokens", "revoke", "a")
    assert again.code == 2 and "no live token named 'a'" in again.err
    assert "revoked" in (await cli("tokens", "list")).lines[1]


async def test_cli_creations_and_revocations_are_audited(cli: Cli, pool: asyncpg.Pool[Any]) -> None:
    secret = (await cli("tokens", "create", "--name", "ci", "--scope", "admin")).out.strip()
    await cli("tokens", "revoke", "ci")
    rows = await AuditRepository(pool).search(AuditFilter(method="CLI"), limit=10)
    assert [(row.path, row.status) for row in rows] == [("tokens revoke", 0), ("tokens create", 0)]
    assert "revoked token 'ci'" in rows[0].summary and "scope admin" in rows[1].summary
    assert rows[0].client and "@" in rows[0].client
    assert secret not in str(rows)


async def test_a_taken_name_or_a_bad_scope_name_or_lifetime_exits_2(cli: Cli) -> None:
    await cli("tokens", "create", "--name", "dup", "--scope", "read")
    taken = await cli("tokens", "create", "--name", "dup", "--scope", "read")
    assert taken.code == 2 and "'dup' already exists" in taken.err
    for argv in (
        ["--name", "x", "--scope", "root"],
        ["--name", "bad name", "--scope", "read"],
        ["--name", "x", "--scope", "read", "--expires", "soon"],
        ["--name", "x", "--scope", "read", "--expires", "20y"],
    ):
        with pytest.raises(SystemExit) as exit_info:
            await cli("tokens", "create", *argv)
        assert exit_info.value.code == 2, argv


def test_a_lifetime_is_a_number_and_a_unit() -> None:
    assert parse_lifetime("90d") == timedelta(days=90)
    assert parse_lifetime("12h") == timedelta(hours=12)
    assert parse_lifetime("1y") == timedelta(days=365)
    for text in ("90", "0d", "-1d", "d"):
        with pytest.raises(ValueError, match="lifetime"):
            parse_lifetime(text)


async def test_up_creates_the_admin_token_once_and_keeps_it_private(pool: asyncpg.Pool[Any], tmp_path: Path) -> None:
    first = await ensure_admin_token(pool, tmp_path)
    assert first.secret is not None and first.path == tmp_path / "admin-token"
    assert first.path.read_text().strip() == first.secret
    assert stat.S_IMODE(first.path.stat().st_mode) == 0o600
    token = await TokenRepository(pool).find(first.secret)
    assert token is not None and token.scope is Scope.ADMIN
    shown = banner("http://127.0.0.1:8000", "nats://x", "postgresql://x", str(tmp_path), first)
    assert first.secret in shown and "shown this once" in shown
    again = await ensure_admin_token(pool, tmp_path)
    assert again.secret is None and again.problem is None
    shown_again = banner("http://127.0.0.1:8000", "nats://x", "postgresql://x", str(tmp_path), again)
    assert first.secret not in shown_again and str(again.path) in shown_again
    [audited] = await AuditRepository(pool).search(AuditFilter(method="CLI"), limit=10)
    assert audited.path == "up" and "created token 'admin'" in audited.summary


async def test_up_replaces_a_lost_admin_token_only_when_no_admin_is_left(
    pool: asyncpg.Pool[Any], tmp_path: Path
) -> None:
    first = await ensure_admin_token(pool, tmp_path)
    assert first.secret is not None
    first.path.write_text("tl_lost\n")
    kept = await ensure_admin_token(pool, tmp_path)
    assert kept.secret is None and kept.problem is not None and "another admin token exists" in kept.problem
    tokens = TokenRepository(pool)
    live = await tokens.live_by_name("admin")
    assert live is not None
    await tokens.revoke(live.id)
    replaced = await ensure_admin_token(pool, tmp_path)
    assert replaced.secret is not None and replaced.secret != first.secret
    assert (await tokens.find(replaced.secret)) is not None


@pytest.fixture
async def served_gateway(settings: Settings) -> AsyncIterator[str]:
    """The gateway served over HTTP on a free port (``tradelane api`` speaks real HTTP)."""
    app = create_app(GatewaySettings.model_validate(settings.model_dump()))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on"))
    serving = asyncio.create_task(server.serve())
    await eventually(lambda: server.started or serving.done(), "the gateway to start")
    assert server.started, "the gateway did not start"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await serving


async def _api(*argv: str) -> Result:
    console = LiveConsole()
    code = await asyncio.to_thread(main, ["api", *argv], console)
    assert isinstance(console.out, io.StringIO)
    return Result(code, console.out.getvalue(), console.notes())


async def test_api_calls_the_gateway_with_the_token_from_the_environment(
    served_gateway: str, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = (await cli("tokens", "create", "--name", "me", "--scope", "trade")).out.strip()
    monkeypatch.setenv("TRADELANE_TOKEN", secret)
    me = await _api("GET", "/api/session", "--url", served_gateway)
    assert me.code == 0, me.err
    assert (json.loads(me.out)["token_name"], json.loads(me.out)["scope"]) == ("me", "trade")
    halted = await _api("post", "/api/risk/halt", "--data", '{"reason": "from the CLI"}', "--url", served_gateway)
    assert halted.code == 0 and json.loads(halted.out)["state"] == "HALTED"


async def test_api_uses_the_state_directory_token_without_flags(
    served_gateway: str, pool: asyncpg.Pool[Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await ensure_admin_token(pool, tmp_path)
    monkeypatch.delenv("TRADELANE_TOKEN", raising=False)
    monkeypatch.setenv("TRADELANE_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("TRADELANE_GATEWAY_URL", served_gateway)
    tokens = await _api("GET", "/api/tokens")
    assert tokens.code == 0, tokens.err
    assert [row["name"] for row in json.loads(tokens.out)] == ["admin"]


async def test_api_says_what_the_gateway_refused(
    served_gateway: str, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRADELANE_TOKEN", (await cli("tokens", "create", "--name", "r", "--scope", "read")).out.strip())
    refused = await _api("POST", "/api/risk/resume", "--url", served_gateway)
    assert refused.code == 1
    assert "HTTP 403" in refused.err and "scope 'trade'" in refused.err
    bad = await _api("POST", "/api/risk/halt", "--data", "{oops", "--url", served_gateway)
    assert bad.code == 2 and "--data is not JSON" in bad.err


async def test_api_without_a_token_says_how_to_get_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRADELANE_TOKEN", raising=False)
    monkeypatch.setenv("TRADELANE_STATE_DIR", str(tmp_path))
    result = await _api("GET", "/api/strategies", "--url", "http://127.0.0.1:9")
    assert result.code == 2 and "TRADELANE_TOKEN" in result.err and "tradelane up" in result.err
