"""The audit trail: every state-changing request is a row, refused ones too, and only admins read it."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import httpx

from services.gateway.tests.conftest import ClientOf
from tests.support.http import refusal
from tradelane.gateway.security.audit import summarize

STRATEGY = {"name": "aapl", "symbol": {"symbol": "AAPL"}, "schedule": {"cron": "0 16 * * 1-5"}}


async def _audit(client: httpx.AsyncClient, **filters: Any) -> list[dict[str, Any]]:
    response = await client.get("/api/audit", params=filters)
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()
    return rows


async def test_a_change_is_recorded_with_who_what_and_the_outcome(client: httpx.AsyncClient) -> None:
    body = json.dumps(STRATEGY).encode()
    created = await client.post("/api/strategies", content=body, headers={"content-type": "application/json"})
    assert created.status_code == 201
    [row] = await _audit(client, path_prefix="/api/strategies")
    assert (row["token_name"], row["scope"], row["method"], row["path"], row["status"]) == (
        "test-admin",
        "admin",
        "POST",
        "/api/strategies",
        201,
    )
    assert row["body_sha256"] == hashlib.sha256(body).hexdigest()
    assert 'name="aapl"' in row["summary"] and "symbol={…}" in row["summary"]
    assert row["client"] == "127.0.0.1"


async def test_reads_are_not_recorded(client: httpx.AsyncClient) -> None:
    await client.get("/api/strategies")
    await client.get("/api/risk")
    assert await _audit(client) == []


async def test_refused_changes_are_recorded_too(client: httpx.AsyncClient, client_of: ClientOf) -> None:
    reader = await client_of("read")
    assert "POST /api/risk/resume needs a token with scope 'trade'" in refusal(
        await reader.post("/api/risk/resume"), 403
    )
    anonymous_attempt = await reader.post("/api/risk/halt", headers={"Authorization": "Bearer tl_nope"})
    assert "unknown API token" in refusal(anonymous_attempt, 401)
    rows = await _audit(client, outcome="4xx")
    assert [(row["path"], row["status"], row["token_name"]) for row in rows] == [
        ("/api/risk/halt", 401, None),
        ("/api/risk/resume", 403, "test-read"),
    ]


async def test_a_refused_body_with_characters_postgresql_cannot_store_is_recorded_escaped(
    client: httpx.AsyncClient,
) -> None:
    """NUL characters and lone surrogates come with bad requests, which the trail must record too."""
    body = b'{"na\\u0000me": "x\\ud800", "symbol": 1}'
    refused = await client.post("/api/strategies%00", content=body, headers={"content-type": "application/json"})
    assert refused.status_code in {404, 405, 422}
    [row] = await _audit(client, path_prefix="/api/strategies")
    assert (row["path"], row["status"]) == ("/api/strategies\\x00", refused.status_code)
    assert row["summary"] == 'na\\x00me="x\\ud800", symbol=1'


async def test_an_oversized_body_is_recorded_as_refused(client: httpx.AsyncClient) -> None:
    assert "the request body (2097152 bytes) is over the gateway's limit of 1048576 bytes" in refusal(
        await client.post("/api/prompts", content=b"x" * (2 * 1024 * 1024)), 413
    )
    [row] = await _audit(client)
    assert row["status"] == 413 and "over the gateway's limit" in row["summary"] and row["body_sha256"] is None


async def test_no_secret_reaches_the_audit_trail(client: httpx.AsyncClient) -> None:
    created = await client.post("/api/tokens", json={"name": "ci", "scope": "read"})
    secret = created.json()["token"]
    assert (await client.post("/api/session", json={"token": secret})).status_code == 200
    assert "unknown API token" in refusal(await client.post("/api/session", json={"token": "tl_wrong"}), 401)
    rows = await _audit(client)
    assert [row["path"] for row in rows] == ["/api/session", "/api/session", "/api/tokens"]
    assert secret not in json.dumps(rows) and "tl_wrong" not in json.dumps(rows)
    assert [row["summary"] for row in rows[:2]] == ["token=***", "token=***"]
    assert rows[1]["token_name"] == "ci"


async def test_the_audit_trail_is_filtered(client: httpx.AsyncClient, client_of: ClientOf) -> None:
    operator = await client_of("operate")
    await operator.post("/api/risk/halt", json={"reason": "x"})
    await client.post("/api/risk/resume")
    await client.post("/api/strategies", json=STRATEGY)
    every = await _audit(client)
    assert [row["path"] for row in every] == ["/api/strategies", "/api/risk/resume", "/api/risk/halt"]
    assert [row["path"] for row in await _audit(client, token="test-operate")] == ["/api/risk/halt"]
    assert [row["path"] for row in await _audit(client, path_prefix="/api/risk")] == [
        "/api/risk/resume",
        "/api/risk/halt",
    ]
    assert [row["status"] for row in await _audit(client, outcome="201")] == [201]
    assert len(await _audit(client, method="POST", limit=2)) == 2
    assert await _audit(client, method="DELETE") == []
    assert [row["path"] for row in await _audit(client, since=every[0]["at"])] == ["/api/strategies"]
    assert [row["path"] for row in await _audit(client, until=every[-1]["at"])] == []


async def test_bad_filters_are_a_422_naming_them(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/audit", params={"outcome": "banana", "path_prefix": "api\x00"})
    assert response.status_code == 422
    assert {error["loc"][-1] for error in response.json()["detail"]} == {"outcome", "path_prefix"}


def test_a_summary_shows_short_values_and_hides_secrets() -> None:
    body = json.dumps({"name": "x" * 60, "api_key": "sk-1", "risk": {"a": 1}, "tags": [1, 2], "on": True}).encode()
    summary = summarize(body, "dry_run=true")
    assert summary.startswith("?dry_run=true ")
    assert 'name="' + "x" * 38 + "…" in summary
    assert "api_key=***" in summary and "sk-1" not in summary
    assert "risk={…}" in summary and "tags=[2 items]" in summary and "on=true" in summary
    assert summarize(b"\xff\xfe") == "2 bytes, not JSON"
    assert summarize(None) == ""
