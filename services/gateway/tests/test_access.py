"""API tokens and scopes: nothing but health answers without a token, and each scope does only its part."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from uuid import uuid4

import httpx
import pytest
from fastapi import APIRouter, FastAPI

from services.gateway.tests.conftest import ApiToken, ClientOf, http_client
from tests.support.http import refusal
from tradelane.contracts.envelope import utc_now
from tradelane.gateway.app import create_app
from tradelane.gateway.config import GatewaySettings
from tradelane.gateway.security.policy import POLICY, PUBLIC, READ, RoutePolicy, UnlistedRouteError
from tradelane.gateway.security.stack import declared_routes

ROUTES = create_app(GatewaySettings()).state.route_policy.routes
"""(method, path) of every route of the app, read from an app that is built but not started."""

STRATEGY = {"name": "aapl", "symbol": {"symbol": "AAPL"}, "schedule": {"cron": "0 16 * * 1-5"}}


def _concrete(path: str) -> str:
    """A request path for a route path: each parameter filled with a value of a plausible shape."""
    return re.sub(r"\{[^}]+\}", "3b8e6c1e-0f4e-4c4e-9a57-6d1b2a0c9f11", path)


def test_every_route_has_one_entry_in_the_policy_and_the_policy_no_other() -> None:
    assert sorted(POLICY) == sorted(ROUTES)


def test_an_app_with_a_route_missing_from_the_policy_does_not_start() -> None:
    router = APIRouter()

    @router.post("/api/unguarded")
    async def unguarded() -> None: ...

    app = FastAPI()
    with pytest.raises(UnlistedRouteError, match="POST /api/unguarded"):
        RoutePolicy(declared_routes(app, [router]))


def test_where_routes_overlap_the_strictest_scope_applies() -> None:
    policy = RoutePolicy(
        [("GET", "/a/{x}"), ("GET", "/a/b")], {("GET", "/a/{x}"): PUBLIC, ("GET", "/a/b"): POLICY["GET", "/api/audit"]}
    )
    assert policy.required("GET", "/a/b") == (POLICY["GET", "/api/audit"], "/a/b")
    assert policy.required("GET", "/a/c") == (PUBLIC, "/a/{x}")


async def test_without_a_token_every_route_but_the_public_ones_is_a_401(anonymous: httpx.AsyncClient) -> None:
    """One app for every route (not one per route), which keeps this quick; the failures name each route."""
    answered: list[str] = []
    for method, path in ROUTES:
        if POLICY[method, path] is PUBLIC:
            continue
        response = await anonymous.request(method, _concrete(path), json={} if method != "GET" else None)
        if response.status_code != 401 or not response.headers.get("www-authenticate", "").startswith("Bearer"):
            answered.append(f"{method} {path}: {response.status_code}")
    assert answered == []


async def test_health_and_the_login_page_answer_without_a_token(anonymous: httpx.AsyncClient) -> None:
    for path in ("/healthz", "/readyz", "/login", "/static/app.js"):
        assert (await anonymous.get(path)).status_code == 200, path


async def test_a_path_no_route_serves_needs_a_token_too(anonymous: httpx.AsyncClient) -> None:
    assert "this needs an API token" in refusal(await anonymous.get("/api/nothing-here"), 401)
    assert "this needs an API token" in refusal(await anonymous.get("/docs"), 401)


async def test_with_a_token_an_unknown_path_is_a_404_and_the_docs_are_off(client: httpx.AsyncClient) -> None:
    assert "Not Found" in refusal(await client.get("/api/nothing-here"), 404)
    assert "Not Found" in refusal(await client.get("/docs"), 404)
    assert "Not Found" in refusal(await client.get("/redoc"), 404)


async def test_a_malformed_body_without_a_token_is_a_401_not_a_422(anonymous: httpx.AsyncClient) -> None:
    response = await anonymous.post(
        "/api/strategies", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert "this needs an API token" in refusal(response, 401)


async def test_a_token_that_is_not_a_bearer_token_is_a_401(anonymous: httpx.AsyncClient) -> None:
    response = await anonymous.get("/api/strategies", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert response.status_code == 401
    assert "Bearer <token>" in response.json()["detail"]


async def test_an_unknown_token_is_a_401_saying_so(anonymous: httpx.AsyncClient) -> None:
    response = await anonymous.get("/api/strategies", headers={"Authorization": "Bearer tl_made-up"})
    assert response.status_code == 401
    assert "unknown API token" in response.json()["detail"]
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


async def test_an_expired_token_is_a_401_saying_so(app: FastAPI, api_token: ApiToken) -> None:
    token = await api_token("admin", name="old", expires_at=utc_now() - timedelta(seconds=1))
    async with http_client(app, token) as client:
        response = await client.get("/api/strategies")
    assert response.status_code == 401
    assert "token 'old' expired" in response.json()["detail"]


async def test_a_revoked_token_is_a_401_at_once(app: FastAPI, client: httpx.AsyncClient, api_token: ApiToken) -> None:
    token = await api_token("read", name="leaked")
    async with http_client(app, token) as leaked:
        assert (await leaked.get("/api/strategies")).status_code == 200
        [listed] = [row for row in (await client.get("/api/tokens")).json() if row["name"] == "leaked"]
        assert (await client.delete(f"/api/tokens/{listed['id']}")).status_code == 200
        response = await leaked.get("/api/strategies")
    assert response.status_code == 401
    assert "token 'leaked' was revoked" in response.json()["detail"]


async def test_a_read_token_reads_everything_but_changes_nothing(client_of: ClientOf) -> None:
    reader = await client_of("read")
    assert (await reader.get("/api/strategies")).status_code == 200
    assert (await reader.get("/api/risk")).status_code == 200
    changed: list[str] = []
    for method, path in ROUTES:
        needed = POLICY[method, path]
        if needed in (PUBLIC, READ):
            continue
        response = await reader.request(method, _concrete(path), json={})
        detail = response.json().get("detail", "") if response.status_code == 403 else ""
        if f"needs a token with scope '{needed}'" not in detail or "has scope 'read'" not in detail:
            changed.append(f"{method} {path}: {response.status_code} {response.text[:120]}")
    assert changed == []


async def test_a_403_names_the_scope_in_the_challenge_too(client_of: ClientOf) -> None:
    response = await (await client_of("read")).post("/api/risk/halt", json={"reason": "x"})
    assert "POST /api/risk/halt needs a token with scope 'operate'" in refusal(response, 403)
    assert 'error="insufficient_scope", scope="operate"' in response.headers["www-authenticate"]


async def test_operate_can_pull_the_kill_switch_but_not_resume(client_of: ClientOf) -> None:
    operator = await client_of("operate")
    halted = await operator.post("/api/risk/halt", json={"reason": "checking a data problem"})
    assert halted.status_code == 200 and halted.json()["state"] == "HALTED"
    resumed = await operator.post("/api/risk/resume")
    assert resumed.status_code == 403
    assert "scope 'trade'" in resumed.json()["detail"]
    assert (await operator.get("/api/risk")).json()["state"] == "HALTED"


async def test_trade_can_resume(client_of: ClientOf) -> None:
    trader = await client_of("trade")
    assert (await trader.post("/api/risk/halt", json={"reason": "lunch"})).status_code == 200
    resumed = await trader.post("/api/risk/resume")
    assert resumed.status_code == 200 and resumed.json()["state"] == "ACTIVE"


async def test_operate_cannot_change_the_risk_limits_or_place_orders(client_of: ClientOf) -> None:
    operator = await client_of("operate")
    limits = (await operator.get("/api/risk")).json()["limits"]
    assert "PUT /api/risk/limits needs a token with scope 'trade'" in refusal(
        await operator.put("/api/risk/limits", json=limits), 403
    )
    assert "POST /api/orders needs a token with scope 'trade'" in refusal(
        await operator.post("/api/orders", json={}), 403
    )


async def test_a_replay_or_redrive_that_may_place_orders_needs_trade(client_of: ClientOf) -> None:
    """Replaying and redriving are operate; letting the replayed or redriven signal trade is trade."""
    operator, trader = await client_of("operate"), await client_of("trade")
    unknown = uuid4()
    refused = await operator.post(f"/api/executions/{unknown}/replay", json={"place_orders": True})
    assert refused.status_code == 403
    assert refused.json()["detail"] == (
        "a replay that may place orders needs a token with scope 'trade' (or above); "
        "token 'test-operate' has scope 'operate'"
    )
    assert f"no execution with id {unknown}" in refusal(await operator.post(f"/api/executions/{unknown}/replay"), 404)
    assert f"no execution with id {unknown}" in refusal(
        await trader.post(f"/api/executions/{unknown}/replay", json={"place_orders": True}), 404
    )
    refused = await operator.post("/api/dlq/77/redrive", params={"place_orders": "true"})
    assert refused.status_code == 403
    assert "a redrive that may place orders needs a token with scope 'trade'" in refused.json()["detail"]
    assert "no dead letter 77 in stream DEADLETTER" in refusal(await operator.post("/api/dlq/77/redrive"), 404)
    assert "no dead letter 77 in stream DEADLETTER" in refusal(
        await trader.post("/api/dlq/77/redrive", params={"place_orders": "true"}), 404
    )


async def test_switching_auto_trade_on_needs_trade(client_of: ClientOf) -> None:
    operator, trader = await client_of("operate"), await client_of("trade")
    refused = await operator.post("/api/strategies", json={**STRATEGY, "auto_trade": True})
    assert refused.status_code == 403
    assert "switching auto_trade on needs a token with scope 'trade'" in refused.json()["detail"]
    created = await operator.post("/api/strategies", json=STRATEGY)
    assert created.status_code == 201
    url = f"/api/strategies/{created.json()['id']}"
    definition: dict[str, Any] = created.json()["definition"]
    assert "switching auto_trade on needs a token with scope 'trade'" in refusal(
        await operator.put(url, json={**definition, "auto_trade": True}), 403
    )
    assert (await trader.put(url, json={**definition, "auto_trade": True})).status_code == 200
    trading = (await operator.get(url)).json()["definition"]
    assert (await operator.put(url, json={**trading, "description": "nightly"})).status_code == 200
    bigger = {**trading, "risk": {**trading["risk"], "risk_per_trade": "0.02"}}
    assert "changing the risk sizing of a strategy that auto-trades needs a token with scope 'trade'" in refusal(
        await operator.put(url, json=bigger), 403
    )
    assert (await operator.put(url, json={**trading, "auto_trade": False})).status_code == 200


async def test_admin_creates_lists_and_revokes_tokens(client: httpx.AsyncClient, app: FastAPI) -> None:
    created = await client.post("/api/tokens", json={"name": "grafana", "scope": "read", "expires_in_days": 30})
    assert created.status_code == 201
    secret = created.json()["token"]
    assert secret.startswith("tl_") and created.json()["created_by"] == "api:test-admin"
    listed = (await client.get("/api/tokens")).json()
    assert secret not in str(listed)
    assert {row["name"]: row["scope"] for row in listed}["grafana"] == "read"
    async with http_client(app, secret) as grafana:
        assert (await grafana.get("/api/executions")).status_code == 200
        assert "GET /api/tokens needs a token with scope 'admin'" in refusal(await grafana.get("/api/tokens"), 403)
    assert "a live token named 'grafana' already exists" in refusal(
        await client.post("/api/tokens", json={"name": "grafana", "scope": "read"}), 409
    )
    revoked = await client.delete(f"/api/tokens/{created.json()['id']}")
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    assert f"no live token with id {created.json()['id']}" in refusal(
        await client.delete(f"/api/tokens/{created.json()['id']}"), 404
    )


async def test_a_token_name_is_checked(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/tokens", json={"name": "bad name\u0000", "scope": "read"})
    assert "body.name: String should match pattern" in refusal(response, 422)


async def test_trade_cannot_manage_tokens(client_of: ClientOf) -> None:
    trader = await client_of("trade")
    assert "POST /api/tokens needs a token with scope 'admin'" in refusal(
        await trader.post("/api/tokens", json={"name": "mine", "scope": "admin"}), 403
    )
    assert "GET /api/audit needs a token with scope 'admin'" in refusal(await trader.get("/api/audit"), 403)


async def test_the_openapi_document_declares_the_bearer_scheme_and_each_scope(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    assert schema["components"]["securitySchemes"]["bearerToken"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schema["components"]["securitySchemes"]["bearerToken"]["description"],
    }
    assert schema["security"] == [{"bearerToken": []}]
    resume = schema["paths"]["/api/risk/resume"]["post"]
    assert resume["x-required-scope"] == "trade" and "`trade`" in resume["description"]
    assert {"401", "403", "413"} <= set(resume["responses"])
    assert schema["paths"]["/healthz"]["get"]["security"] == []
    assert schema["paths"]["/api/session"]["post"]["security"] == []


async def test_who_am_i(client_of: ClientOf) -> None:
    me = (await (await client_of("operate")).get("/api/session")).json()
    assert (me["token_name"], me["scope"], me["via"], me["csrf_token"]) == ("test-operate", "operate", "bearer", None)


async def test_last_use_is_recorded(client: httpx.AsyncClient) -> None:
    [me] = [row for row in (await client.get("/api/tokens")).json() if row["name"] == "test-admin"]
    assert me["last_used_at"] is not None
