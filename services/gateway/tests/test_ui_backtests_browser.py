"""The Backtests pages in a real browser (Debian's Chromium through Playwright), the gateway served by uvicorn.

Only the gateway runs (on this test's NATS and PostgreSQL); the backtester is faked on the bus as in
test_backtests_api.py, and the run it "starts" is completed by the test through the repository, as
the backtester would complete it. The browser follows a strategy's Backtest link, estimates, starts,
watches the progress end (the page reloads by itself), and opens the report. The test fails on a
console error, a page error, a failed request or an answer of 400 or more (conventions of
tests/e2e/test_web_ui.py, whose screenshot directory it writes to).
"""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import asyncpg
import pytest
import uvicorn
from nats.aio.client import Client as NatsClient
from playwright.async_api import Browser, Page, async_playwright
from playwright.async_api import expect as expect_that

from services.gateway.tests.conftest import ApiToken
from tests.e2e.conftest import CHROMIUM
from tests.e2e.test_web_ui import DESKTOP, PHONE, SCREENSHOTS, Problems
from tests.support.backtests import FakeBacktester, complete
from tests.support.waiting import eventually
from tradelane.contracts.strategy import StrategyDefinition, SymbolRef
from tradelane.gateway.app import create_app
from tradelane.gateway.config import GatewaySettings
from tradelane.runtime.settings import Settings
from tradelane.store.backtests import BacktestRepository
from tradelane.store.strategies import StrategyRepository

pytestmark = pytest.mark.chromium

SECONDS = 15_000
"""How long the browser waits for what a poll brings (the progress polls every 2 s)."""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
async def gateway(settings: Settings) -> AsyncIterator[str]:
    """The gateway app served by uvicorn on a free port, on this test's servers."""
    port = _free_port()
    app = create_app(GatewaySettings.model_validate(settings.model_dump()))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on"))
    serving = asyncio.create_task(server.serve())
    await eventually(lambda: server.started, "uvicorn to serve the gateway")
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await serving


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM)
        yield launched
        await launched.close()


async def _page(browser: Browser, gateway: str, token: str, viewport: dict[str, int], problems: Problems) -> Page:
    context = await browser.new_context(base_url=gateway, viewport=viewport)  # type: ignore[arg-type]
    context.set_default_timeout(10_000)
    page = await context.new_page()
    problems.watch(page)
    await page.goto("/login")
    await page.locator("#token").fill(token)
    await page.locator("#token").press("Enter")
    await page.wait_for_url(re.compile(r"/$"))
    return page


async def _shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)


async def test_a_backtest_is_estimated_started_followed_to_its_end_and_its_report_opened(
    gateway: str, browser: Browser, api_token: ApiToken, pool: asyncpg.Pool[Any], nats_client: NatsClient
) -> None:
    strategies = StrategyRepository(pool)
    stored = await strategies.create(StrategyDefinition(name="aapl-daily", symbol=SymbolRef(symbol="AAPL")))
    repository = BacktestRepository(pool)
    backtester = FakeBacktester(nats_client, repository)
    await backtester.start()
    problems = Problems()
    page = await _page(browser, gateway, await api_token("operate"), DESKTOP, problems)

    await page.goto("/strategies")
    await page.get_by_role("link", name="Backtest aapl-daily").click()
    await page.wait_for_url(re.compile(r"/backtests\?strategy_id="))
    form = page.locator("#backtest-form")
    await expect_that(form.get_by_label("Strategy", exact=True)).to_have_value(str(stored.id))
    await form.get_by_label("Start (00:00 UTC)").fill("2026-10-01")
    await form.get_by_label("End (00:00 UTC)").fill("2026-11-01")
    await form.get_by_label("Compare (A/B on the same decisions)").select_option("prompt_version")
    await form.get_by_label("The two values compared").fill("2,3")
    await form.get_by_label("Budget in USD", exact=False).fill("1")
    await page.get_by_role("button", name="Estimate cost").click()
    await expect_that(page.locator("#estimate-decisions")).to_contain_text("3 per variant")
    await expect_that(page.locator("#estimate-cost")).to_have_text("0.0300 USD")
    await _shot(page, "backtests-estimate-desktop")

    await page.get_by_role("button", name="Start backtest").click()
    await page.wait_for_url(re.compile(r"/backtests/[0-9a-f-]{36}$"))
    await expect_that(page.locator("#backtest-status")).to_have_text("running")
    await expect_that(page.locator("#decision-rows tbody tr")).to_have_count(9)
    [asked] = [request for request in backtester.creates if not request.estimate_only]
    assert [variant.prompt_version for variant in asked.variants] == [2, 3]

    backtest_id = page.url.rsplit("/", 1)[1]
    await complete(repository, UUID(backtest_id))
    await expect_that(page.locator("#backtest-metrics")).to_be_visible(timeout=SECONDS)
    await expect_that(page.locator("#backtest-status")).to_have_text("completed")
    await expect_that(page.locator("#backtest-comparison")).to_contain_text("could be chance")
    await _shot(page, "backtests-detail-desktop")

    async with page.expect_response(re.compile(r"/report$")) as opened:
        await page.get_by_role("link", name="Open the report").click()
    report = await opened.value
    assert report.headers["content-security-policy"].startswith("default-src 'none'; img-src data:")
    await expect_that(page.get_by_role("heading", name="Backtest report")).to_be_visible()
    assert page.url.endswith(f"/api/backtests/{backtest_id}/report")

    phone = await _page(browser, gateway, await api_token("read"), PHONE, problems)
    await phone.goto("/backtests")
    await expect_that(phone.locator("#backtest-rows tbody tr")).to_have_count(1)
    await expect_that(phone.locator("#backtest-form")).to_have_count(0)
    await _shot(phone, "backtests-list-phone")
    await page.goto("/backtests")
    await _shot(page, "backtests-list-desktop")
    await backtester.stop()
    assert problems.seen == [], "\n".join(problems.seen)
