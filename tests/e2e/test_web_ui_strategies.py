"""The strategy form and the signals page in a real browser (Debian's Chromium) against ``tradelane up``.

The web UI modules' shared system and browser; the login, problem watching and screenshot conventions are
those of tests/e2e/test_web_ui.py. The form is filled the way an operator fills it: the live
check warns about a risky value and places an invalid cron's error at its field before
anything is saved.
"""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Browser, Page
from playwright.async_api import expect as expect_that

from tests.e2e.conftest import Up, finished_execution, ledger_signal
from tests.e2e.test_web_ui import (
    DESKTOP,
    FINISHED,
    LIVE_SECONDS,
    PHONE,
    SCREENSHOTS,
    Problems,
    _context,
    admin_token,
    created_strategy,
    gateway,
    log_in,
    page,
    up,
)

pytestmark = [pytest.mark.e2e, pytest.mark.chromium]

__all__ = ["admin_token", "gateway", "page", "up"]
"""The fixtures this module takes from test_web_ui (the system is the one the web UI modules share)."""


async def test_a_strategy_is_checked_live_saved_edited_run_and_its_signal_listed(page: Page, up: Up) -> None:
    await page.goto("/strategies")
    form = page.locator("#strategy-form")
    await form.get_by_label("Name").fill("ui-full")
    await form.get_by_label("Symbol").press_sequentially("AAP")
    await expect_that(page.locator("#symbol-suggestions option[value=AAPL]")).to_have_count(1)
    await form.get_by_label("Symbol").fill("AAPL")
    await page.locator("#f-render_png").uncheck()

    await form.get_by_label("Risk per trade").fill("0.08")
    await expect_that(page.locator("#strategy-warnings")).to_contain_text("risk per trade 8 %")

    await form.get_by_label("Cron").fill("every day")
    await expect_that(page.locator("#e-schedule-cron")).to_be_visible()
    await expect_that(page.locator("#e-schedule-cron")).to_contain_text("every day")

    await form.get_by_label("Cron").fill("0 16 * * 1-5")
    await form.get_by_label("Time zone").fill("America/New_York")
    await expect_that(page.locator("#e-schedule-cron")).to_be_hidden()
    await expect_that(page.locator("#next-runs li")).to_have_count(5)
    await expect_that(page.locator("#next-runs li").first).to_contain_text(re.compile(r"16:00 E[SD]T$"))

    await page.locator("#save-strategy").click()
    await expect_that(page.locator("#strategy-form .notice")).to_contain_text("Created ui-full")
    # the new form checks itself once shown: let that answer arrive before leaving the page
    await expect_that(page.locator("#strategy-check #next-runs li")).to_have_count(5)
    row = page.locator("#strategy-list tr", has_text="ui-full")
    await expect_that(row.locator(".bar-size")).to_have_text("1 day")

    await row.get_by_role("link", name="Edit ui-full").click()
    await page.wait_for_url(re.compile(r"/strategies/[0-9a-f-]{36}/edit$"))
    await expect_that(page.locator("#f-risk-risk_per_trade")).to_have_value("0.08")
    await expect_that(page.locator("#strategy-check #next-runs li")).to_have_count(5)
    async with page.expect_response(re.compile(r"/strategies/check$")):
        await page.locator("#f-bar_size").select_option("4 hours")
    await page.get_by_role("button", name="Save changes").click()
    await page.wait_for_url(re.compile(r"/strategies$"))
    row = page.locator("#strategy-list tr", has_text="ui-full")
    await expect_that(row.locator(".bar-size")).to_have_text("4 hours")
    await expect_that(page.locator("#strategy-check #next-runs li")).to_have_count(5)

    await row.get_by_role("button", name="Run now").click()
    await page.wait_for_url(re.compile(r"/executions/[0-9a-f-]{36}$"))
    execution_path = page.url.removeprefix(page.url.split("/executions/")[0])
    await expect_that(page.locator("#execution-status")).to_have_text(FINISHED, timeout=LIVE_SECONDS * 1000)
    async with up.client() as client:
        await ledger_signal(client, execution_path.rsplit("/", 1)[1])

    await page.goto("/signals")
    await page.locator("#filter-strategy").select_option(label="ui-full")
    await page.get_by_role("button", name="Filter").click()
    await page.wait_for_url(re.compile(r"/signals\?strategy_id="))
    signal = page.locator("#signal-rows tbody tr")
    await expect_that(signal).to_have_count(1)
    await expect_that(signal).to_contain_text("AAPL")
    await signal.locator(f"a[href='{execution_path}']").click()
    await page.wait_for_url(re.compile(re.escape(execution_path) + "$"))


async def test_an_indicator_is_added_and_removed_in_the_form_with_the_keyboard(page: Page) -> None:
    await page.goto("/strategies")
    rows = page.locator("#strategy-form .indicator")
    before = await rows.count()
    await page.locator("#f-new_indicator").select_option("rsi")
    await page.get_by_role("button", name="Add", exact=True).focus()
    await page.keyboard.press("Enter")
    await expect_that(rows).to_have_count(before + 1)
    await expect_that(rows.last).to_contain_text("RSI")
    await rows.last.get_by_label("Period").fill("1")
    await expect_that(rows.last.locator(".error:not([hidden])")).to_contain_text("greater than or equal to 2")
    await rows.last.get_by_role("button", name=re.compile("^Remove indicator")).focus()
    await page.keyboard.press("Enter")
    await expect_that(rows).to_have_count(before)
    await expect_that(page.locator("#strategy-check #next-runs li")).to_have_count(5)


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280x800", "390x844"])
async def test_the_strategy_and_signal_pages_fit_the_screen_and_are_saved_as_screenshots(
    browser: Browser, gateway: str, admin_token: str, up: Up, viewport: dict[str, int]
) -> None:
    strategy = await created_strategy(up, f"ui-signal-shots-{viewport['width']}")
    async with up.client() as client:
        run = await client.post(f"/api/strategies/{strategy['id']}/run")
        assert run.status_code == 202, run.text
        await finished_execution(client, run.json()["execution_id"])
        await ledger_signal(client, run.json()["execution_id"])
    context = await _context(browser, gateway, viewport)
    problems = Problems()
    shown = await context.new_page()
    problems.watch(shown)
    size = f"{viewport['width']}x{viewport['height']}"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    async def shoot(name: str) -> None:
        overflow = await shown.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{name} is {overflow}px wider than a {size} screen"
        await shown.screenshot(path=SCREENSHOTS / f"{name}-{size}.png", full_page=True)

    await log_in(shown, admin_token)
    await shown.goto("/strategies")
    await expect_that(shown.locator("#next-runs li")).to_have_count(5)
    async with shown.expect_response(re.compile(r"/strategies/check$")):
        await shown.locator("#f-risk-risk_per_trade").fill("0.08")
    await expect_that(shown.locator("#strategy-warnings")).to_contain_text("risk per trade")
    await shoot("strategy-form")
    await shown.goto(f"/strategies/{strategy['id']}/edit")
    await expect_that(shown.locator("#next-runs li")).to_have_count(5)
    await shoot("strategy-edit")
    await shown.goto(f"/signals?strategy_id={strategy['id']}")
    await expect_that(shown.locator("#signal-rows tbody tr")).to_have_count(1)
    await shoot("signals")
    await context.close()
    assert problems.seen == [], "\n".join(problems.seen)
