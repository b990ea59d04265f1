"""The web UI's pages: public login, pages behind the session, the strict CSP, and actions that exist.

The browser tests (tests/e2e/test_web_ui.py) drive these pages in Chromium against the whole
system; these check, in-process, what a browser cannot be trusted to notice.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from uuid import uuid4

import httpx
import pytest
from fastapi import FastAPI
from starlette.routing import compile_path

from services.gateway.tests.conftest import ApiToken, http_client
from services.gateway.tests.test_llm_api import _call
from services.gateway.tests.test_signals_api import recorded_signal
from tradelane.contracts.envelope import utc_now
from tradelane.contracts.trading import trading_day_start
from tradelane.gateway.app import create_app
from tradelane.gateway.config import GatewaySettings
from tradelane.gateway.state import GatewayState
from tradelane.gateway.ui.assets import ASSETS, STATIC
from tradelane.runtime.settings import Settings

HTML = {"Accept": "text/html,application/xhtml+xml"}
HTMX_PATH = re.compile(r'hx-(?P<method>get|post|delete)="(?P<path>[^"]+)"')
SSE_PATH = re.compile(r'sse-connect="(?P<path>[^"]+)"')
LOCAL_FILE = re.compile(r'(?:src|href)="(?P<path>/static/[^"]+)"')


@pytest.fixture
async def browser(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client with no token of its own that keeps cookies, as a browser does."""
    async with http_client(app) as client:
        yield client


async def _log_in(browser: httpx.AsyncClient, token: str) -> str:
    """Log in as the login page does; returns the session's CSRF token."""
    response = await browser.post("/api/session", json={"token": token})
    assert response.status_code == 200, response.text
    csrf: str = response.json()["csrf_token"]
    return csrf


async def _page(browser: httpx.AsyncClient, path: str) -> str:
    response = await browser.get(path, headers=HTML)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    return response.text


async def test_the_login_page_is_public_and_keeps_the_token_out_of_urls(browser: httpx.AsyncClient) -> None:
    page = await _page(browser, "/login")
    assert re.search(r'<form id="login-form" method="post"', page)
    assert 'type="password"' in page and 'autocomplete="off"' in page


async def test_pages_need_a_session_and_a_browser_is_sent_to_log_in(browser: httpx.AsyncClient) -> None:
    for path in ("/", "/strategies", "/executions?status=failed"):
        response = await browser.get(path, headers=HTML)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login?next=/")
    assert (await browser.get("/strategies")).status_code == 401


async def test_every_page_allows_only_this_origin_and_nothing_inline(
    browser: httpx.AsyncClient, api_token: ApiToken
) -> None:
    await _log_in(browser, await api_token("admin"))
    for path in ("/login", "/", "/strategies", "/executions"):
        response = await browser.get(path, headers=HTML)
        policy = response.headers["content-security-policy"]
        assert "script-src 'self';" in policy and "style-src 'self';" in policy
        assert "unsafe" not in policy and "http" not in policy
        page = response.text
        assert "<script>" not in page and "<style" not in page and " style=" not in page
        assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
        assert '"allowEval":false' in page and '"includeIndicatorStyles":false' in page


async def test_the_static_files_the_pages_load_are_served_without_a_token(browser: httpx.AsyncClient) -> None:
    page = await _page(browser, "/login")
    files = {match["path"] for match in LOCAL_FILE.finditer(page)}
    assert {
        "/static/vendor/htmx.min.js",
        "/static/vendor/htmx-ext-sse.js",
        "/static/app.js",
        "/static/app.css",
    } <= files
    for path in files:
        response = await browser.get(path)
        assert response.status_code == 200, path
    assert (await browser.get("/static/..%2Fui%2Ftemplating.py")).status_code == 404
    assert (await browser.get("/static/nothing.js")).status_code == 404


def test_every_vendored_file_is_listed_with_its_version_and_licence() -> None:
    listing = (STATIC / "vendor" / "VENDORED.md").read_text()
    vendored = [name for name in ASSETS if name.startswith("vendor/") and name.endswith(".js")]
    assert vendored
    for name in vendored:
        row = next(line for line in listing.splitlines() if line.startswith(f"| `{Path(name).name}`"))
        licence = re.search(r"`(LICENSE-[^`]+)`", row)
        assert licence is not None and (STATIC / "vendor" / licence.group(1)).is_file()
        assert re.search(r"\| \d+\.\d+\.\d+ \|", row)


async def test_every_request_a_page_makes_goes_to_a_route_of_the_app(
    app: FastAPI, browser: httpx.AsyncClient, api_token: ApiToken
) -> None:
    csrf = await _log_in(browser, await api_token("admin"))
    headers = {"X-CSRF-Token": csrf}
    created = await browser.post(
        "/strategies", content="name=ui-routes&symbol.symbol=AAPL&active=on", headers=headers | _FORM
    )
    assert "Created ui-routes" in created.text
    requests: set[tuple[str, str]] = set()
    for path in ("/", "/strategies", "/executions"):
        page = await _page(browser, path)
        requests |= {(match["method"].upper(), match["path"]) for match in HTMX_PATH.finditer(page)}
        requests |= {("GET", match["path"]) for match in SSE_PATH.finditer(page)}
    assert {method for method, _ in requests} == {"GET", "POST", "DELETE"}
    unserved = [(method, path) for method, path in requests if not _served(app, method, path.split("?", 1)[0])]
    assert unserved == []


def _served(app: FastAPI, method: str, path: str) -> bool:
    """Whether a route ``app`` declares answers ``method`` at ``path`` (not merely the not-found handler)."""
    declared: tuple[tuple[str, str], ...] = app.state.route_policy.routes
    return any(verb == method and compile_path(template)[0].match(path) for verb, template in declared)


async def test_a_read_token_sees_no_control_that_changes_anything(
    browser: httpx.AsyncClient, api_token: ApiToken
) -> None:
    await _log_in(browser, await api_token("read", name="reader"))
    dashboard = await _page(browser, "/")
    assert "scope: read" in dashboard and "reader" in dashboard
    assert 'id="halt"' not in dashboard and 'id="resume"' not in dashboard
    strategies = await _page(browser, "/strategies")
    assert "hx-post" not in strategies and "hx-delete" not in strategies and 'id="strategy-form"' not in strategies


async def test_an_operate_token_may_halt_but_not_resume_and_sees_no_auto_trade(
    browser: httpx.AsyncClient, api_token: ApiToken
) -> None:
    csrf = await _log_in(browser, await api_token("operate"))
    assert 'id="halt"' in await _page(browser, "/")
    assert 'name="auto_trade"' not in await _page(browser, "/strategies")
    halted = await browser.post("/risk/halt", content="reason=checking", headers={"X-CSRF-Token": csrf} | _FORM)
    assert 'id="trading-state">HALTED<' in halted.text
    assert 'id="resume"' not in halted.text


_FORM = {"Content-Type": "application/x-www-form-urlencoded"}


async def test_the_pages_send_the_csrf_token_with_every_change(browser: httpx.AsyncClient, api_token: ApiToken) -> None:
    csrf = await _log_in(browser, await api_token("operate"))
    page = await _page(browser, "/strategies")
    assert f"hx-headers='{{&#34;X-CSRF-Token&#34;: &#34;{csrf}&#34;}}'" in page
    refused = await browser.post("/strategies", content="name=x&symbol.symbol=AAPL", headers=_FORM)
    assert refused.status_code == 403


async def test_the_strategy_form_shows_the_apis_errors_next_to_their_fields(
    browser: httpx.AsyncClient, api_token: ApiToken
) -> None:
    csrf = await _log_in(browser, await api_token("operate"))
    form = "name=bad-cron&symbol.symbol=AAPL&schedule.cron=every+day&risk.risk_per_trade=2&symbol.currency=usd"
    answer = await browser.post("/strategies", content=form, headers={"X-CSRF-Token": csrf} | _FORM)
    assert answer.status_code == 200
    for field in ("risk-risk_per_trade", "symbol-currency"):
        assert re.search(rf'<p class="error" id="e-{field}">[^<]+</p>', answer.text), field
    assert 'value="every day"' in answer.text
    listing = await browser.get("/api/strategies", headers={"Accept": "application/json"})
    assert all(strategy["definition"]["name"] != "bad-cron" for strategy in listing.json())
    cron_only = "name=bad-cron&symbol.symbol=AAPL&schedule.cron=every+day"
    answer = await browser.post("/strategies", content=cron_only, headers={"X-CSRF-Token": csrf} | _FORM)
    assert re.search(r'<p class="error" id="e-schedule-cron">[^<]+</p>', answer.text)


async def test_the_ui_is_not_part_of_the_api_schema(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert not [path for path in paths if not path.startswith("/api/") and path not in {"/healthz", "/readyz"}]


async def test_a_halt_the_api_would_refuse_is_explained_and_changes_nothing(
    browser: httpx.AsyncClient, api_token: ApiToken
) -> None:
    csrf = await _log_in(browser, await api_token("operate"))
    answer = await browser.post("/risk/halt", content="reason=" + "x" * 501, headers={"X-CSRF-Token": csrf} | _FORM)
    assert answer.status_code == 200
    assert 'class="error" role="status">Not halted: the reason:' in answer.text
    assert 'id="trading-state">ACTIVE<' in answer.text


async def test_a_filter_left_at_all_lists_everything(browser: httpx.AsyncClient, api_token: ApiToken) -> None:
    """A filter form submits its "all" option as an empty value: no filter, never a 422."""
    await _log_in(browser, await api_token("admin"))
    for path in ("/executions?strategy_id=&status=&trigger=&since=&until=", "/orders?status="):
        assert "<h1>" in await _page(browser, path)
    response = await browser.get("/executions?status=nonsense", headers=HTML)
    assert response.status_code == 422


async def test_the_dashboard_asks_for_the_services_once_loaded_and_says_what_it_has_not(
    browser: httpx.AsyncClient, api_token: ApiToken
) -> None:
    """The page does not wait for the half-second health request; empty cards and a missing budget say so."""
    await _log_in(browser, await api_token("read"))
    dashboard = await _page(browser, "/")
    assert 'hx-get="/dashboard/services" hx-trigger="load"' in dashboard
    assert "Checking which services answer" in dashboard and 'id="services"' not in dashboard
    assert "No signals yet" in dashboard and "No model calls since" in dashboard
    assert "No daily budget: set <code>TRADELANE_LLM_DAILY_BUDGET_USD</code>" in dashboard
    services = await _page(browser, "/dashboard/services")
    assert 'id="services"' in services and "silent</span> lineage" in services


async def test_the_dashboard_shows_the_latest_signals_and_todays_llm_spend_against_the_budget(
    settings: Settings, api_token: ApiToken
) -> None:
    app = create_app(GatewaySettings.model_validate(settings.model_dump() | {"llm_daily_budget_usd": "0.01"}))
    async with app.router.lifespan_context(app), http_client(app) as browser:
        state: GatewayState = app.state.gateway
        strategy_id = uuid4()
        await recorded_signal(state, action="SELL", strategy_id=strategy_id)
        await recorded_signal(state, action="HOLD", rejected=True)
        await state.llm.record_call(_call(strategy_id))
        await state.llm.record_call(_call(strategy_id, at=trading_day_start(utc_now()) - timedelta(minutes=1)))
        await _log_in(browser, await api_token("read"))
        dashboard = await _page(browser, "/")
    start = dashboard.index('id="latest-signals"')
    signals = dashboard[start : dashboard.index("All signals", start)]
    assert signals.count('<a href="/executions/') == 2
    assert ">SELL</strong>" in signals and ">HOLD</strong>" in signals and ">rejected<" in signals
    assert 'id="llm-spend">0.0045 USD<' in dashboard and 'id="llm-calls">1<' in dashboard
    assert "0.0045 of 0.01 USD (45 %)" in dashboard


async def test_the_executions_filters_go_to_the_live_list_and_a_window_that_ends_first_is_explained(
    browser: httpx.AsyncClient, api_token: ApiToken
) -> None:
    await _log_in(browser, await api_token("read"))
    filtered = await _page(browser, "/executions?trigger=replay&since=2026-12-05T10:00&until=2026-12-05T12:30")
    stream = "/executions/stream?trigger=replay&amp;since=2026-12-05T10%3A00&amp;until=2026-12-05T12%3A30"
    assert f'sse-connect="{stream}"' in filtered
    assert "<option selected>replay</option>" in filtered and 'value="2026-12-05T10:00"' in filtered
    assert "No executions match these filters." in filtered
    backwards = await _page(browser, "/executions?since=2026-12-05T12:00&until=2026-12-05T10:00")
    assert "“from” must be before “to”" in backwards and "sse-connect" not in backwards
    refused = await browser.get("/executions/stream?since=2026-12-05T12:00&until=2026-12-05T10:00", headers=HTML)
    assert refused.status_code == 422
