"""The web UI's login: a token pasted once becomes an HttpOnly SameSite=Strict session with a CSRF token."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI

from services.gateway.tests.conftest import ApiToken, http_client
from tests.support.http import refusal
from tradelane.contracts.envelope import utc_now


@pytest.fixture
async def browser(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client with no token of its own that keeps cookies, as a browser does."""
    async with http_client(app) as client:
        yield client


async def _log_in(browser: httpx.AsyncClient, token: str) -> str:
    """Log in; returns the session's CSRF token."""
    response = await browser.post("/api/session", json={"token": token})
    assert response.status_code == 200, response.text
    csrf: str = response.json()["csrf_token"]
    return csrf


async def test_logging_in_sets_a_locked_down_cookie_and_not_the_token(
    browser: httpx.AsyncClient, api_token: ApiToken
) -> None:
    token = await api_token("operate", name="alice")
    response = await browser.post("/api/session", json={"token": token})
    assert response.status_code == 200
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("tradelane_session=")
    assert re.search(r"(?i)\bHttpOnly\b", cookie) and re.search(r"(?i)SameSite=strict", cookie)
    assert "Path=/" in cookie and "Secure" not in cookie
    assert token not in cookie and token not in response.text
    body = response.json()
    assert (body["token_name"], body["scope"], body["via"]) == ("alice", "operate", "session")
    assert body["csrf_token"] and body["session_expires_at"]


async def test_the_cookie_is_secure_behind_https(app: FastAPI, api_token: ApiToken) -> None:
    token = await api_token("read")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://localhost") as browser:
        response = await browser.post("/api/session", json={"token": token})
    assert "Secure" in response.headers["set-cookie"]


async def test_the_session_reads_and_tells_who_is_logged_in(browser: httpx.AsyncClient, api_token: ApiToken) -> None:
    csrf = await _log_in(browser, await api_token("read", name="bob"))
    assert (await browser.get("/api/strategies")).status_code == 200
    me = (await browser.get("/api/session")).json()
    assert (me["token_name"], me["scope"], me["via"], me["csrf_token"]) == ("bob", "read", "session", csrf)


async def test_a_change_through_the_session_needs_the_csrf_header(
    browser: httpx.AsyncClient, api_token: ApiToken
) -> None:
    csrf = await _log_in(browser, await api_token("operate"))
    without = await browser.post("/api/risk/halt", json={"reason": "x"})
    assert without.status_code == 403 and "X-CSRF-Token" in without.json()["detail"]
    wrong = await browser.post("/api/risk/halt", json={"reason": "x"}, headers={"X-CSRF-Token": "guess"})
    assert "needs its X-CSRF-Token header" in refusal(wrong, 403)
    right = await browser.post("/api/risk/halt", json={"reason": "x"}, headers={"X-CSRF-Token": csrf})
    assert right.status_code == 200


async def test_a_session_keeps_its_tokens_scope(browser: httpx.AsyncClient, api_token: ApiToken) -> None:
    csrf = await _log_in(browser, await api_token("read"))
    response = await browser.post("/api/risk/halt", json={"reason": "x"}, headers={"X-CSRF-Token": csrf})
    assert response.status_code == 403 and "scope 'operate'" in response.json()["detail"]


async def test_logging_out_ends_the_session(browser: httpx.AsyncClient, api_token: ApiToken) -> None:
    csrf = await _log_in(browser, await api_token("read"))
    cookie = browser.cookies["tradelane_session"]
    assert (await browser.delete("/api/session", headers={"X-CSRF-Token": csrf})).status_code == 204
    assert "tradelane_session" not in browser.cookies
    browser.cookies.set("tradelane_session", cookie)
    response = await browser.get("/api/strategies")
    assert response.status_code == 401 and "session has ended" in response.json()["detail"]


async def test_revoking_the_token_ends_its_sessions(
    browser: httpx.AsyncClient, client: httpx.AsyncClient, api_token: ApiToken
) -> None:
    await _log_in(browser, await api_token("read", name="carol"))
    [carol] = [row for row in (await client.get("/api/tokens")).json() if row["name"] == "carol"]
    await client.delete(f"/api/tokens/{carol['id']}")
    assert "your web UI session has ended" in refusal(await browser.get("/api/strategies"), 401)


async def test_a_bad_token_opens_no_session(browser: httpx.AsyncClient, api_token: ApiToken) -> None:
    expired = await api_token("admin", expires_at=utc_now() - timedelta(minutes=1))
    for token in ("tl_wrong", expired):
        response = await browser.post("/api/session", json={"token": token})
        assert "create one with `tradelane tokens create" in refusal(response, 401)
        assert "set-cookie" not in response.headers
    assert "this needs an API token" in refusal(await browser.get("/api/strategies"), 401)


async def test_a_cross_site_login_is_refused(browser: httpx.AsyncClient, api_token: ApiToken) -> None:
    token = await api_token("admin")
    response = await browser.post("/api/session", json={"token": token}, headers={"Sec-Fetch-Site": "cross-site"})
    assert "a POST from another site is refused (Sec-Fetch-Site: cross-site)" in refusal(response, 403)
    assert "set-cookie" not in response.headers


async def test_the_bearer_header_wins_over_the_cookie(browser: httpx.AsyncClient, api_token: ApiToken) -> None:
    await _log_in(browser, await api_token("admin"))
    response = await browser.get("/api/session", headers={"Authorization": f"Bearer {await api_token('read')}"})
    assert response.json()["scope"] == "read" and response.json()["via"] == "bearer"
