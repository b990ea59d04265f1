"""The orders, portfolio and risk pages in a real browser against ``tradelane up`` (paper venue).

The web UI modules' shared system, whose broker takes its scheduled snapshot every 2 s so the
equity curve has points, and whose book holds only the tests' orders (no demo strategy: the e2e
conftest's ``WEB_UI_ENV``). The browser fixtures are test_web_ui's: every test fails on a console
error, a failed request or an answer of 400 or more; screenshots go where test_web_ui puts them.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest
from playwright.async_api import Browser, Page
from playwright.async_api import expect as expect_that

from tests.e2e.conftest import Up, finished_execution
from tests.e2e.test_web_ui import (  # noqa: F401 (fixtures used by name)
    DESKTOP,
    PHONE,
    SCREENSHOTS,
    Problems,
    admin_token,
    gateway,
    log_in,
    page,
    settled,
    up,
)
from tests.support.waiting import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.chromium]

BTC = {"symbol": "BTC", "exchange": "PAXOS", "currency": "USD", "asset_type": "CRYPTO"}
"""Crypto trades at any hour, so the risk engine's trading-hours rule never refuses the test's order."""
MARK = re.compile(r"from the mark (?P<mark>[0-9.]+) of BTC")


def limit_below(mark: str, fraction: str) -> Decimal:
    """A limit price ``fraction`` of the mark, in cents, its last digit never 0.

    The page shows a price as the book stores it, without trailing zeros (55782.6, not 55782.60),
    so a price ending in 0 would not be found by the text the test typed.
    """
    price = (Decimal(mark) * Decimal(fraction)).quantize(Decimal("0.01"))
    return price - Decimal("0.01") if price % Decimal("0.1") == 0 else price


@pytest.fixture(scope="module")
async def priced_btc(up: Up, gateway: str) -> None:  # noqa: F811 (the imported fixture, by name)
    """A finished run on BTC: the broker has seen its bars, so it has a mark to check orders against."""
    definition: dict[str, Any] = {
        "name": "ui-btc",
        "symbol": BTC,
        "bar_size": "1 min",
        "duration": "1 D",
        "render_png": False,
        "schedule": {"cron": "0 0 1 1 *"},
    }
    async with up.client() as client:
        created = await client.post("/api/strategies", json=definition)
        assert created.status_code == 201, created.text
        run = await client.post(f"/api/strategies/{created.json()['id']}/run")
        await finished_execution(client, run.json()["execution_id"])


async def test_a_manual_order_is_placed_after_its_errors_are_fixed_then_cancelled(
    page: Page,  # noqa: F811
    priced_btc: None,
) -> None:
    await page.get_by_role("link", name="Orders").click()
    await page.wait_for_url(re.compile(r"/orders$"))
    form = page.locator("#order-form")
    await form.get_by_label("Symbol").fill("BTC")
    await form.get_by_label("Exchange").fill("PAXOS")
    await form.get_by_label("Asset type").select_option("CRYPTO")
    await form.get_by_label("Quantity").fill("0.01")
    await form.get_by_label("Type", exact=True).select_option("LMT")
    await form.get_by_label("Quantity").press("Enter")
    await expect_that(page.locator("#e-limit_price")).to_contain_text("needs a limit_price")
    await expect_that(page.locator("#f-limit_price")).to_have_attribute("aria-invalid", "true")
    await settled(page)

    await page.locator("#f-limit_price").fill("1")
    await page.locator("#f-limit_price").press("Enter")
    refused = page.locator("#order-refused")
    await expect_that(refused).to_contain_text("price_collar")
    found = MARK.search(await refused.inner_text())
    assert found is not None
    below = limit_below(found["mark"], "0.96")
    await expect_that(page.locator("#order-history")).to_contain_text("rejected")
    await settled(page)

    await page.locator("#f-limit_price").fill(str(below))
    await page.locator("#f-limit_price").press("Enter")
    await expect_that(page.locator("#order-placed")).to_contain_text("Placed (BUY 0.01 BTC")
    # the demo strategy of `tradelane up` auto-trades BTC too: find this order by its price
    mine = page.locator("#working-orders tbody tr", has_text=f"lmt {below}")
    await expect_that(mine).to_have_count(1)

    page.once("dialog", lambda dialog: dialog.dismiss())
    await mine.get_by_role("button", name="Cancel").click()
    await expect_that(mine).to_have_count(1)
    page.once("dialog", lambda dialog: dialog.accept())
    # the order events of the placement redraw the tables (sse:orders): press once they are drawn, the key
    # going to the button found at that moment (focus and key in one action)
    await settled(page)
    await mine.get_by_role("button", name="Cancel").press("Enter")
    await expect_that(page.locator("#order-message")).to_have_text(re.compile("^Cancel"))
    await expect_that(page.locator("#working-orders")).not_to_contain_text(f"lmt {below}")
    await page.locator("#filter-status").select_option("cancelled")
    await page.get_by_role("button", name="Filter").click()
    await expect_that(page.locator("#order-history tbody tr")).to_contain_text(f"lmt {below}")


async def test_orders_placed_and_cancelled_elsewhere_change_the_orders_page_without_a_reload(
    page: Page,  # noqa: F811
    up: Up,  # noqa: F811
    priced_btc: None,
) -> None:
    """Through the API, as another client would: a refused order, a working one, its cancel; each shows up live."""
    async with page.expect_response(re.compile(r"/orders/tables$")):  # the stream is listening: it asks once
        await page.goto("/orders")
    await page.evaluate("window.stillTheSamePage = true")
    order = {"instrument": BTC, "side": "BUY", "order_type": "LMT", "quantity": "0.01"}
    history = page.locator("#order-history tbody tr")
    async with up.client() as client:
        refused = await client.post("/api/orders", json={**order, "limit_price": "1.23"})
        assert refused.status_code == 409, refused.text
        await expect_that(history.filter(has_text="lmt 1.23").locator(".status")).to_have_text("rejected")

        found = MARK.search(refused.json()["detail"])
        assert found is not None
        # not the first test's price: that order is in the history too
        below = limit_below(found["mark"], "0.97")
        placed = await client.post("/api/orders", json={**order, "limit_price": str(below)})
        assert placed.status_code == 201, placed.text
        working = page.locator("#working-orders tbody tr", has_text=f"lmt {below}")
        await expect_that(working).to_have_count(1)

        cancelled = await client.post(f"/api/orders/{placed.json()['orders'][0]['id']}/cancel")
        assert cancelled.status_code in {200, 202}, cancelled.text
        await expect_that(working).to_have_count(0)
        await expect_that(history.filter(has_text=f"lmt {below}").locator(".status")).to_have_text("cancelled")
    assert await page.evaluate("window.stillTheSamePage === true")


async def test_the_portfolio_page_draws_the_equity_curve_from_the_snapshots(
    page: Page,  # noqa: F811
    up: Up,  # noqa: F811
) -> None:
    async with up.client() as client:

        async def snapshots() -> bool:
            return len((await client.get("/api/portfolio/snapshots")).json()) >= 2

        await eventually(snapshots, "two portfolio snapshots", timeout=30)
    await page.get_by_role("link", name="Portfolio").click()
    await page.wait_for_url(re.compile(r"/portfolio$"))
    chart = page.locator("svg#equity-chart")
    await expect_that(chart).to_be_visible()
    points = await chart.locator("#equity-line").get_attribute("points")
    assert points is not None and len(points.split()) >= 2
    await expect_that(chart.locator("text")).not_to_have_count(0)
    await expect_that(page.locator("#equity-caption")).to_contain_text("snapshot")


async def test_a_fill_elsewhere_shows_its_position_on_the_portfolio_page_without_a_reload(
    page: Page,  # noqa: F811
    up: Up,  # noqa: F811
    priced_btc: None,
) -> None:
    async with page.expect_response(re.compile(r"/portfolio/book$")):  # the stream is listening: it asks once
        await page.goto("/portfolio")
    await page.evaluate("window.stillTheSamePage = true")
    async with up.client() as client:
        held = (await client.get("/api/positions")).json()
        before = sum((Decimal(position["quantity"]) for position in held if position["symbol"] == "BTC"), Decimal(0))
        filled = await client.post("/api/orders", json={"instrument": BTC, "side": "BUY", "quantity": "0.002"})
        assert filled.status_code == 201, filled.text
    shown = page.locator("#portfolio-book tbody tr", has_text="BTC").locator("td[data-label=Quantity]")

    async def grown_by_the_fill() -> bool:
        return [Decimal(text) for text in await shown.all_inner_texts()] == [before + Decimal("0.002")]

    await eventually(grown_by_the_fill, "the BTC position grown by the market order's fill", timeout=10)
    assert await page.evaluate("window.stillTheSamePage === true")


async def test_a_limit_changed_on_the_risk_page_is_saved_and_shown(page: Page) -> None:  # noqa: F811
    await page.get_by_role("link", name="Risk").click()
    await page.wait_for_url(re.compile(r"/risk$"))
    await expect_that(page.locator("#trading-state")).to_have_text("ACTIVE")
    await expect_that(page.locator("meter#use-open-positions")).to_have_attribute("max", "5")
    await page.locator("#f-max_open_positions").fill("500")
    await page.locator("#f-max_open_positions").press("Enter")
    await expect_that(page.locator("#e-max_open_positions")).to_contain_text("ceiling")
    await settled(page)
    await page.locator("#f-max_open_positions").fill("7")
    await page.locator("#f-max_open_positions").press("Enter")
    await expect_that(page.locator("#limits-saved")).to_be_visible()
    await expect_that(page.locator("#f-max_open_positions")).to_have_value("7")
    await expect_that(page.locator("meter#use-open-positions")).to_have_attribute("max", "7")
    await page.reload()
    await expect_that(page.locator("#f-max_open_positions")).to_have_value("7")


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280x800", "390x844"])
async def test_the_trading_pages_fit_the_screen_and_are_saved_as_screenshots(
    browser: Browser,
    gateway: str,  # noqa: F811
    admin_token: str,  # noqa: F811
    priced_btc: None,
    viewport: dict[str, int],
) -> None:
    context = await browser.new_context(base_url=gateway, viewport=viewport)  # type: ignore[arg-type]
    problems = Problems()
    shown = await context.new_page()
    problems.watch(shown)
    await log_in(shown, admin_token)
    size = f"{viewport['width']}x{viewport['height']}"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for name in ("orders", "portfolio", "risk"):
        await shown.goto(f"/{name}")
        await shown.wait_for_load_state("networkidle")  # the favicon too: leaving before it loads aborts it
        overflow = await shown.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{name} is {overflow}px wider than a {size} screen"
        await shown.screenshot(path=SCREENSHOTS / f"{name}-{size}.png", full_page=True)
    await context.close()
    assert problems.seen == [], "\n".join(problems.seen)
