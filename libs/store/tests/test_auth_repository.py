"""Tokens, sessions and the audit trail against a real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from tradelane.store.audit import AuditEntry, AuditFilter, AuditRepository
from tradelane.store.auth import Scope, SessionRepository, TokenNameTakenError, TokenRepository, sha256_hex

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def test_each_scope_covers_those_below_it_and_no_more() -> None:
    assert Scope.ADMIN.covers(Scope.TRADE) and Scope.TRADE.covers(Scope.OPERATE) and Scope.OPERATE.covers(Scope.READ)
    assert not Scope.READ.covers(Scope.OPERATE) and not Scope.OPERATE.covers(Scope.TRADE)
    assert not Scope.TRADE.covers(Scope.ADMIN)


async def test_a_token_is_stored_only_as_its_hash(pool: asyncpg.Pool[Any]) -> None:
    issued = await TokenRepository(pool).create("ci", Scope.READ, created_by="test")
    assert issued.secret.startswith("tl_") and len(issued.secret) >= 40
    rows = await pool.fetch("SELECT * FROM auth.tokens")
    assert issued.secret not in str([dict(row) for row in rows])
    assert rows[0]["secret_sha256"] == sha256_hex(issued.secret)


async def test_a_token_is_found_by_its_secret_only(pool: asyncpg.Pool[Any]) -> None:
    tokens = TokenRepository(pool)
    issued = await tokens.create("ci", Scope.TRADE, created_by="test")
    found = await tokens.find(issued.secret)
    assert found is not None and (found.name, found.scope) == ("ci", Scope.TRADE)
    assert await tokens.find(issued.secret + "x") is None
    assert await tokens.find(sha256_hex(issued.secret)) is None


async def test_a_live_name_is_unique_but_a_revoked_one_may_be_reused(pool: asyncpg.Pool[Any]) -> None:
    tokens = TokenRepository(pool)
    first = await tokens.create("ci", Scope.READ, created_by="test")
    with pytest.raises(TokenNameTakenError, match="'ci'"):
        await tokens.create("ci", Scope.READ, created_by="test")
    await tokens.revoke(first.record.id)
    second = await tokens.create("ci", Scope.ADMIN, created_by="test")
    assert (await tokens.live_by_name("ci")) == second.record


async def test_revoked_and_expired_tokens_say_why_they_cannot_be_used(pool: asyncpg.Pool[Any]) -> None:
    tokens = TokenRepository(pool)
    expiring = await tokens.create("short", Scope.READ, created_by="test", expires_at=NOW + timedelta(days=1))
    assert expiring.record.problem(NOW) is None
    assert "expired" in (expiring.record.problem(NOW + timedelta(days=2)) or "")
    revoked = await tokens.revoke(expiring.record.id)
    assert revoked is not None and "revoked" in (revoked.problem(NOW) or "")
    assert await tokens.revoke(expiring.record.id) is None


async def test_use_is_recorded_at_most_once_a_minute(pool: asyncpg.Pool[Any]) -> None:
    tokens = TokenRepository(pool)
    issued = await tokens.create("ci", Scope.READ, created_by="test")
    await tokens.touch(issued.record.id)
    first = (await tokens.get(issued.record.id)).last_used_at  # type: ignore[union-attr]
    await tokens.touch(issued.record.id)
    assert first is not None and (await tokens.get(issued.record.id)).last_used_at == first  # type: ignore[union-attr]


async def test_a_session_is_found_by_its_cookie_value_and_ends_with_its_token(pool: asyncpg.Pool[Any]) -> None:
    tokens, sessions = TokenRepository(pool), SessionRepository(pool)
    issued = await tokens.create("ui", Scope.OPERATE, created_by="test")
    now = datetime.now(UTC)
    opened = await sessions.open(issued.record, now=now, lifetime=timedelta(hours=1))
    assert opened.session_id not in str([dict(row) for row in await pool.fetch("SELECT * FROM auth.sessions")])
    found = await sessions.find(opened.session_id, now=now)
    assert found is not None and found.token.name == "ui" and found.csrf_token == opened.record.csrf_token
    assert await sessions.find(opened.session_id, now=now + timedelta(hours=2)) is None
    await tokens.revoke(issued.record.id)
    assert await sessions.find(opened.session_id, now=now) is None


async def test_a_session_never_outlives_its_token(pool: asyncpg.Pool[Any]) -> None:
    issued = await TokenRepository(pool).create(
        "ui", Scope.READ, created_by="test", expires_at=NOW + timedelta(minutes=5)
    )
    opened = await SessionRepository(pool).open(issued.record, now=NOW, lifetime=timedelta(hours=12))
    assert opened.record.expires_at == NOW + timedelta(minutes=5)


async def test_closing_a_session_ends_it(pool: asyncpg.Pool[Any]) -> None:
    issued = await TokenRepository(pool).create("ui", Scope.READ, created_by="test")
    sessions = SessionRepository(pool)
    opened = await sessions.open(issued.record, now=datetime.now(UTC), lifetime=timedelta(hours=1))
    assert await sessions.close(opened.session_id)
    assert await sessions.find(opened.session_id, now=datetime.now(UTC)) is None
    assert not await sessions.close(opened.session_id)


async def test_audit_rows_are_searched_by_their_fields(pool: asyncpg.Pool[Any]) -> None:
    audit = AuditRepository(pool)
    await audit.append(AuditEntry(method="POST", path="/api/risk/halt", status=200, token_name="ops", scope="operate"))
    await audit.append(
        AuditEntry(method="POST", path="/api/risk/resume", status=403, token_name="ops", scope="operate")
    )
    await audit.append(AuditEntry(method="DELETE", path="/api/strategies/x", status=204, token_name="dev"))
    everything = await audit.search(AuditFilter(), limit=10)
    assert [row.path for row in everything] == ["/api/strategies/x", "/api/risk/resume", "/api/risk/halt"]
    refused = await audit.search(AuditFilter(status_from=400, status_to=499), limit=10)
    assert [row.path for row in refused] == ["/api/risk/resume"]
    risk = await audit.search(AuditFilter(path_prefix="/api/risk", token_name="ops", method="POST"), limit=1)
    assert [row.path for row in risk] == ["/api/risk/resume"]
    later = await audit.search(AuditFilter(since=everything[0].at), limit=10)
    assert [row.path for row in later] == ["/api/strategies/x"]
    assert await audit.search(AuditFilter(until=everything[-1].at), limit=10) == []


async def test_a_path_prefix_is_not_a_pattern(pool: asyncpg.Pool[Any]) -> None:
    audit = AuditRepository(pool)
    await audit.append(AuditEntry(method="POST", path="/api/risk/halt", status=200))
    assert await audit.search(AuditFilter(path_prefix="/api/%"), limit=10) == []


@pytest.mark.parametrize(
    "statement",
    ["UPDATE auth.audit SET status = 200", "DELETE FROM auth.audit", "TRUNCATE auth.audit"],
)
async def test_the_audit_trail_refuses_to_be_changed(pool: asyncpg.Pool[Any], statement: str) -> None:
    audit = AuditRepository(pool)
    await audit.append(AuditEntry(method="POST", path="/api/risk/resume", status=403, token_name="intruder"))
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
        await pool.execute(statement)
    [row] = await audit.search(AuditFilter(), limit=10)
    assert (row.token_name, row.status) == ("intruder", 403)
