"""Request hardening: the Host allow-list, the same-origin rule, security headers and the body limit."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest

from services.gateway.tests.conftest import ClientOf
from tests.support.http import refusal
from tradelane.gateway.config import MIB, GatewaySettings
from tradelane.gateway.security.hosts import host_allowed, split_host
from tradelane.gateway.security.origin import same_origin


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("localhost:8000", ("localhost", 8000)),
        ("LOCALHOST", ("localhost", None)),
        ("[::1]:8000", ("::1", 8000)),
        ("::1", ("::1", None)),
        ("example.com:x", ("example.com", None)),
    ],
)
def test_a_host_header_splits_into_name_and_port(host: str, expected: tuple[str, int | None]) -> None:
    assert split_host(host) == expected


def test_allowed_hosts_are_exact_names_or_subdomain_patterns() -> None:
    allowed = ("localhost", "*.example.com")
    assert host_allowed("localhost", allowed)
    assert host_allowed("trade.example.com", allowed)
    assert not host_allowed("example.com", allowed)
    assert not host_allowed("evil-example.com", allowed)
    assert not host_allowed("localhost.evil.net", allowed)
    assert host_allowed("anything", ("*",))


@pytest.mark.parametrize(
    ("origin", "host", "same"),
    [
        ("http://localhost:8000", "localhost:8000", True),
        ("https://trade.example.com", "trade.example.com", True),
        ("https://trade.example.com", "trade.example.com:443", True),
        ("http://localhost:3000", "localhost:8000", False),
        ("http://evil.example", "localhost:8000", False),
        ("null", "localhost:8000", False),
        ("file://", "localhost", False),
    ],
)
def test_same_origin_compares_name_and_port(origin: str, host: str, same: bool) -> None:
    assert same_origin(origin, host) is same


def test_the_allowed_hosts_setting_is_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADELANE_GATEWAY_ALLOWED_HOSTS", " trade.example.com, *.internal ,")
    assert GatewaySettings().gateway_allowed_hosts == ("trade.example.com", "*.internal")
    monkeypatch.delenv("TRADELANE_GATEWAY_ALLOWED_HOSTS")
    assert GatewaySettings().gateway_allowed_hosts == ("127.0.0.1", "localhost")


async def test_a_request_for_another_host_is_a_400(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/strategies", headers={"Host": "attacker.example:8000"})
    assert response.status_code == 400
    assert "'attacker.example:8000' is not a name this gateway answers to" in response.json()["detail"]
    assert "TRADELANE_GATEWAY_ALLOWED_HOSTS" in response.json()["detail"]


async def test_the_allowed_hosts_answer_on_any_port(client: httpx.AsyncClient) -> None:
    for host in ("127.0.0.1:8000", "localhost", "LOCALHOST:1234"):
        assert (await client.get("/api/strategies", headers={"Host": host})).status_code == 200, host


async def test_the_probes_answer_whatever_the_host(anonymous: httpx.AsyncClient) -> None:
    """Orchestrators address the probes to the pod's IP."""
    assert (await anonymous.get("/healthz", headers={"Host": "10.1.2.3:8000"})).status_code == 200


@pytest.fixture
async def trader(client_of: ClientOf) -> httpx.AsyncClient:
    return await client_of("trade")


async def test_an_empty_cross_site_form_post_to_resume_is_refused(
    trader: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    assert (await trader.post("/api/risk/halt", json={"reason": "checking"})).status_code == 200
    form = {
        "Origin": "https://attacker.example",
        "Sec-Fetch-Site": "cross-site",
        "Content-Type": "application/x-www-form-urlencoded",
    }
    response = await anonymous.post("/api/risk/resume", content=b"", headers=form)
    assert response.status_code == 403
    assert "from another site is refused" in response.json()["detail"]
    assert (await trader.get("/api/risk")).json()["state"] == "HALTED"


async def test_a_cross_site_change_is_refused_even_with_a_token(trader: httpx.AsyncClient) -> None:
    for headers in ({"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"}, {"Origin": "null"}):
        response = await trader.post("/api/risk/halt", json={"reason": "x"}, headers=headers)
        assert response.status_code == 403, headers
    assert (await trader.get("/api/risk")).json()["state"] == "ACTIVE"


async def test_a_change_from_the_gateways_own_page_or_from_curl_goes_through(trader: httpx.AsyncClient) -> None:
    own_page = {"Origin": "http://localhost:8000", "Sec-Fetch-Site": "same-origin"}
    assert (await trader.post("/api/risk/halt", json={"reason": "x"}, headers=own_page)).status_code == 200
    assert (await trader.post("/api/risk/resume")).status_code == 200
    blank = {"Origin": " ", "Sec-Fetch-Site": ""}
    assert (await trader.post("/api/risk/resume", headers=blank)).status_code == 200, "a blank header is none"


async def test_a_cross_site_read_is_not_refused_by_the_origin_rule(trader: httpx.AsyncClient) -> None:
    """Reads change nothing; the browser's same-origin policy keeps their answers from other sites."""
    assert (await trader.get("/api/risk", headers={"Sec-Fetch-Site": "cross-site"})).status_code == 200


SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


async def test_every_answer_carries_the_security_headers(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    answers = [
        await client.get("/api/strategies"),
        await client.get("/api/nothing"),
        await anonymous.get("/api/strategies"),
        await anonymous.get("/healthz"),
        await client.get("/api/strategies", headers={"Host": "evil.example"}),
        await client.post("/api/strategies", content=b"x" * (MIB + 1)),
        await client.get("/"),
    ]
    for response in answers:
        for name, value in SECURITY_HEADERS.items():
            assert response.headers.get(name) == value, (response.request.url, name)
        csp = response.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "http" not in csp, response.request.url


async def test_api_answers_load_nothing_and_are_not_stored(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/strategies")
    assert response.headers["content-security-policy"].startswith("default-src 'none'")
    assert response.headers["cache-control"] == "no-store"


async def test_the_pages_allow_script_and_style_only_from_this_origin(anonymous: httpx.AsyncClient) -> None:
    response = await anonymous.get("/login")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "style-src 'self';" in csp and "connect-src 'self'" in csp
    assert "unsafe" not in csp and "sha256-" not in csp
    assert not re.findall(r"<(script|style)>", response.text)
    assert " style=" not in response.text and "style:" not in response.text


async def test_a_body_over_the_limit_is_a_413(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/strategies", content=b"{" + b" " * MIB + b"}")
    assert response.status_code == 413
    assert f"over the gateway's limit of {MIB} bytes" in response.json()["detail"]


async def test_a_streamed_body_over_the_limit_is_a_413_too(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b" " * (MIB // 10)

    response = await client.post("/api/strategies", content=chunks())
    assert "is over the gateway's limit of 1048576 bytes" in refusal(response, 413)


async def test_a_body_within_the_limit_reaches_the_route(client: httpx.AsyncClient) -> None:
    description = "x" * 1000
    body = {"name": "big", "symbol": {"symbol": "AAPL"}, "description": description}
    assert (await client.post("/api/strategies", json=body)).status_code == 201
