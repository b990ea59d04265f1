"""The web UI in a real browser (Debian's Chromium through Playwright) against ``tradelane up``.

The system is the one the web UI modules share (the e2e conftest's ``web_ui_up``), as is the
browser; each test opens its own pages, with strategies of its own. Every test fails on a console
error, an uncaught page error, a failed request or an answer of 400 or more (the pages never
expect one). Screenshots of every page at 1280x800 and 390x844 go to ``bench/results/screenshots/``
(``TRADELANE_SCREENSHOT_DIR`` overrides it; the directory is not committed).
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Locator,
    Page,
    Request,
    Response,
)
from playwright.async_api import expect as expect_that

from tests.e2e.conftest import WEB_UI_LLM_BUDGET_USD, Up, finished_execution, wait_until_ready
from tests.e2e.test_healing import STRATEGY

pytestmark = [pytest.mark.e2e, pytest.mark.chromium]

SCREENSHOTS = Path(
    os.environ.get("TRADELANE_SCREENSHOT_DIR", Path(__file__).resolve().parents[2] / "bench/results/screenshots")
)
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
LIVE_SECONDS = 60
GRAPH_FIT = """() => {
    const frame = document.querySelector('.graph-frame');
    const shown = [...frame.querySelectorAll('svg.pipeline')].filter((svg) => svg.getClientRects().length > 0);
    return {
        overflow: frame.scrollWidth - frame.clientWidth,
        scales: shown.map((svg) => svg.getBoundingClientRect().width / svg.viewBox.baseVal.width),
    };
}"""
"""How the lineage viewer's graph is drawn: how far it overflows its frame (a sideways scroll), and the scale of
each graph shown (one; its text has its size at 1)."""
FINISHED = re.compile(r"^(completed|rejected)$")
"""How a run of the offline analyst ends: a signal, or one the rules refused (both are a finished run)."""


@pytest.fixture(scope="module")
def up(web_ui_up: Up) -> Up:
    """The ``tradelane up`` the web UI modules share (they take this fixture by name)."""
    return web_ui_up


@pytest.fixture(scope="module")
async def gateway(up: Up) -> str:
    await wait_until_ready(up.gateway, timeout=120)
    return up.gateway


@pytest.fixture(scope="module")
def admin_token(up: Up) -> str:
    return (up.state_dir / "admin-token").read_text().strip()


class Problems:
    """What went wrong in a page that no test expects: console errors, page errors, failed requests."""

    def __init__(self, *, expected: tuple[str, int] | None = None) -> None:
        self.seen: list[str] = []
        self.expected = expected
        """One answer the test provokes on purpose: (path, status); its console line is expected too."""

    def _is_expected(self, url: str, status: int | None = None) -> bool:
        if self.expected is None:
            return False
        path, expected_status = self.expected
        return url.endswith(path) and status in {None, expected_status}

    def watch(self, page: Page) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.seen.append(f"page error: {error}"))
        page.on("requestfailed", self._failed)
        page.on("response", self._response)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error" and not self._is_expected(message.location.get("url", "")):
            self.seen.append(f"console error: {message.text}")

    def _failed(self, request: Request) -> None:
        # a request the browser abandons itself (a live stream, a favicon, an htmx request still in
        # flight when the page is left) is not a failure: the server's failures are refused
        # connections and error statuses, which are still counted
        if request.failure == "net::ERR_ABORTED":
            return
        self.seen.append(f"request failed: {request.method} {request.url}: {request.failure}")

    def _response(self, response: Response) -> None:
        if response.status >= 400 and not self._is_expected(response.url, response.status):
            self.seen.append(f"HTTP {response.status}: {response.request.method} {response.url}")


async def _context(browser: Browser, gateway: str, viewport: dict[str, int]) -> BrowserContext:
    context = await browser.new_context(base_url=gateway, viewport=viewport)  # type: ignore[arg-type]
    context.set_default_timeout(10_000)
    return context


async def settled(page: Page) -> None:
    """Wait until htmx has finished its swaps: a form it has just put in the page is only its own
    (submitted by htmx, not natively by the browser) once htmx has processed it."""
    await page.wait_for_function("() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')")


async def log_in(page: Page, token: str) -> None:
    """Through the login form, with the keyboard: type the token, press Enter."""
    await page.goto("/login")
    await page.locator("#token").fill(token)
    await page.locator("#token").press("Enter")
    await page.wait_for_url(re.compile(r"/$"))


@pytest.fixture
async def page(browser: Browser, gateway: str, admin_token: str) -> AsyncIterator[Page]:
    """A desktop page logged in with the admin token; the test fails if anything went wrong in it."""
    context = await _context(browser, gateway, DESKTOP)
    problems = Problems()
    opened = await context.new_page()
    problems.watch(opened)
    await log_in(opened, admin_token)
    yield opened
    await context.close()
    assert problems.seen == [], "\n".join(problems.seen)


def step(page: Page, name: str) -> Locator:
    """The execution page's collapsible entry of the step called ``name``."""
    return page.locator("ol.steps details").filter(has=page.locator(".step-name", has_text=re.compile(f"^{name}$")))


async def created_strategy(up: Up, name: str, **changes: Any) -> dict[str, Any]:
    async with up.client() as client:
        created = await client.post("/api/strategies", json={**STRATEGY, "name": name, **changes})
        assert created.status_code == 201, created.text
        return dict(created.json())


async def test_logging_in_shows_the_dashboard_with_the_tokens_scope(page: Page) -> None:
    await expect_that(page.locator("#scope")).to_have_text("scope: admin")
    await expect_that(page.locator("nav a[aria-current=page]")).to_have_text("Dashboard")
    await expect_that(page.locator("#trading-mode")).to_contain_text("paper")


async def test_a_refused_token_is_explained_on_the_login_page(browser: Browser, gateway: str) -> None:
    context = await _context(browser, gateway, DESKTOP)
    problems = Problems(expected=("/api/session", 401))
    page = await context.new_page()
    problems.watch(page)
    await page.goto("/login")
    await page.locator("#token").fill("tl_not-a-token")
    await page.locator("#token").press("Enter")
    await expect_that(page.locator("#login-error")).to_contain_text("unknown API token")
    await expect_that(page.locator("#token")).to_be_focused()
    await context.close()
    assert problems.seen == [], "\n".join(problems.seen)


async def test_a_page_opened_without_a_session_comes_back_after_logging_in(
    browser: Browser, gateway: str, admin_token: str
) -> None:
    context = await _context(browser, gateway, DESKTOP)
    problems = Problems()
    page = await context.new_page()
    problems.watch(page)
    await page.goto("/executions?status=failed")
    await expect_that(page).to_have_url(re.compile(r"/login\?next="))
    await page.locator("#token").fill(admin_token)
    await page.locator("#token").press("Enter")
    await expect_that(page).to_have_url(re.compile(r"/executions\?status=failed$"))
    await expect_that(page.locator("#filter-status")).to_have_value("failed")
    await context.close()
    assert problems.seen == [], "\n".join(problems.seen)


async def test_the_pages_are_reached_with_the_keyboard_and_logging_out_ends_the_session(page: Page) -> None:
    focused: list[str] = []
    for _ in range(4):
        await page.keyboard.press("Tab")
        focused.append(await page.evaluate("document.activeElement.textContent.trim()"))
    assert focused[:4] == ["Skip to content", "tradelane", "Dashboard", "Strategies"]
    await page.keyboard.press("Enter")
    await page.wait_for_url(re.compile(r"/strategies$"))
    await page.locator("#logout").focus()
    await page.keyboard.press("Enter")
    await page.wait_for_url(re.compile(r"/login$"))
    await page.goto("/strategies")
    await expect_that(page).to_have_url(re.compile(r"/login\?next=/strategies$"))


async def test_a_new_execution_appears_in_the_list_without_a_reload(page: Page, up: Up) -> None:
    """With the list filtered to manual runs since a moment (UTC), through the form."""
    strategy = await created_strategy(up, "ui-list")
    since = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M")
    async with up.client() as client:
        first = (await client.post(f"/api/strategies/{strategy['id']}/run")).json()["execution_id"]
        await finished_execution(client, first)
        replay = await client.post(f"/api/executions/{first}/replay", json={"from_step": "signal"})
        replayed = replay.json()["execution_id"]
        await finished_execution(client, replayed)
    await page.goto("/executions")
    await page.locator("#filter-trigger").select_option("manual")
    await page.locator("#filter-since").fill(since)
    await page.locator("#filter-since").press("Enter")
    await page.wait_for_url(re.compile(r"/executions\?.*trigger=manual&since=.+"))
    await page.evaluate("window.stillTheSamePage = true")
    async with up.client() as client:
        run = await client.post(f"/api/strategies/{strategy['id']}/run")
    execution_id = run.json()["execution_id"]
    row = page.locator("#execution-rows tr", has=page.locator(f"a[href='/executions/{execution_id}']"))
    await expect_that(row).to_contain_text("ui-list", timeout=LIVE_SECONDS * 1000)
    await expect_that(row.locator(".status")).to_have_text(FINISHED, timeout=LIVE_SECONDS * 1000)
    assert await page.evaluate("window.stillTheSamePage === true")
    await expect_that(page.locator(f"#execution-rows a[href='/executions/{first}']")).to_have_count(1)
    await expect_that(page.locator(f"#execution-rows a[href='/executions/{replayed}']")).to_have_count(0)


async def test_the_dashboard_links_the_latest_signal_to_its_lineage_and_shows_the_llm_spend(page: Page, up: Up) -> None:
    strategy = await created_strategy(up, "ui-dashboard")
    async with up.client() as client:
        run = await client.post(f"/api/strategies/{strategy['id']}/run")
        execution_id = run.json()["execution_id"]
        await finished_execution(client, execution_id)
    await page.goto("/")
    await expect_that(page.locator("#services")).to_contain_text("lineage")
    await expect_that(page.locator("#services-checking")).to_have_count(0)
    await expect_that(page.locator("#llm-spend")).to_contain_text("No model calls since 00:00 UTC")
    budget = f"0.0000 of {WEB_UI_LLM_BUDGET_USD}.00 USD (0 %)"
    await expect_that(page.locator("#use-llm-budget-text")).to_contain_text(budget)
    link = page.locator(f"#latest-signals a[href='/executions/{execution_id}']")
    await link.focus()
    await page.keyboard.press("Enter")
    await page.wait_for_url(re.compile(f"/executions/{execution_id}$"))
    await expect_that(page.locator("#execution-status")).to_have_text(FINISHED)


async def test_a_strategy_is_created_through_the_form_after_fixing_the_field_the_api_refused(page: Page) -> None:
    await page.goto("/strategies")
    form = page.locator("#strategy-form")
    await form.get_by_label("Name").fill("ui-form")
    await form.get_by_label("Symbol").fill("MSFT")
    await form.get_by_label("Cron").fill("every day")
    await form.get_by_role("button", name="Create strategy").click()
    await expect_that(page.locator("#e-schedule-cron")).to_be_visible()
    await expect_that(page.locator("#f-schedule-cron")).to_have_attribute("aria-invalid", "true")
    await page.locator("#f-schedule-cron").fill("0 0 1 1 *")
    await page.locator("#f-render_png").uncheck()
    await page.locator("#f-schedule-cron").press("Enter")
    await expect_that(page.locator("#strategy-form .notice")).to_contain_text("Created ui-form")
    await expect_that(page.locator("#strategy-list")).to_contain_text("ui-form")
    await expect_that(page.locator("#f-schedule-cron")).not_to_have_attribute("aria-invalid", "true")


async def test_a_run_completes_on_the_execution_page_without_a_reload(page: Page, up: Up) -> None:
    await created_strategy(up, "ui-run")
    await page.goto("/strategies")
    await page.locator("tr", has_text="ui-run").get_by_role("button", name="Run now").click()
    await page.wait_for_url(re.compile(r"/executions/[0-9a-f-]{36}$"))
    await page.evaluate("window.stillTheSamePage = true")
    await expect_that(page.locator("#execution-status")).to_have_text(FINISHED, timeout=LIVE_SECONDS * 1000)
    assert await page.evaluate("window.stillTheSamePage === true")
    steps = page.locator("ol.steps > li")
    await expect_that(steps.first).to_contain_text("requested")
    market_data = step(page, "market_data")  # its messages are fetched when it is opened, the bars resolved
    await expect_that(market_data.locator(".messages")).to_have_text("Loading the step's messages…")
    await market_data.locator(":scope > summary").click()
    referred = market_data.locator(".messages details.payloads")
    await expect_that(referred.locator(":scope > summary")).to_contain_text("1 payload")
    await referred.locator(":scope > summary").click()
    await expect_that(referred).to_contain_text("volume")
    signal = step(page, "signal")
    await signal.locator("summary").click()
    await expect_that(signal.locator(".messages")).to_contain_text("Output message")
    await expect_that(signal.locator(".messages")).to_contain_text("execution_id")
    await expect_that(signal.locator(".signal-card h3")).to_have_text(re.compile("^(Signal|Rejected candidate)$"))


async def test_the_kill_switch_halts_trading_after_a_confirm_and_resumes(page: Page) -> None:
    await expect_that(page.locator("#trading-state")).to_have_text("ACTIVE")
    page.once("dialog", lambda dialog: dialog.accept())
    await page.locator("#halt").focus()
    await page.keyboard.press("Enter")
    await expect_that(page.locator("#trading-state")).to_have_text("HALTED")
    await expect_that(page.locator("#risk .notice")).to_contain_text("Trading halted")
    page.once("dialog", lambda dialog: dialog.dismiss())
    await page.locator("#resume").click()
    await expect_that(page.locator("#trading-state")).to_have_text("HALTED")
    page.once("dialog", lambda dialog: dialog.accept())
    await page.locator("#resume").click()
    await expect_that(page.locator("#trading-state")).to_have_text("ACTIVE")


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280x800", "390x844"])
async def test_every_page_fits_the_screen_and_is_saved_as_a_screenshot(
    browser: Browser, gateway: str, admin_token: str, up: Up, viewport: dict[str, int]
) -> None:
    strategy = await created_strategy(up, f"ui-shots-{viewport['width']}", render_png=True)
    async with up.client() as client:
        run = await client.post(f"/api/strategies/{strategy['id']}/run")
        execution_id = run.json()["execution_id"]
        await finished_execution(client, execution_id)
    context = await _context(browser, gateway, viewport)
    problems = Problems()
    page = await context.new_page()
    problems.watch(page)
    size = f"{viewport['width']}x{viewport['height']}"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    async def shoot(name: str) -> None:
        overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{name} is {overflow}px wider than a {size} screen"
        await page.screenshot(path=SCREENSHOTS / f"{name}-{size}.png", full_page=True)

    await page.goto("/login")
    await shoot("login")
    await log_in(page, admin_token)
    await expect_that(page.locator("#services")).to_be_visible()
    await shoot("dashboard")
    for name, path in [("strategies", "/strategies"), ("executions", "/executions")]:
        await page.goto(path)
        await shoot(name)
    await page.goto(f"/executions/{execution_id}")
    await expect_that(page.locator("#execution-status")).to_have_text(FINISHED)
    analysis = step(page, "analysis")
    await analysis.locator("summary").click()
    await expect_that(analysis.locator(".messages")).to_contain_text("Output message")
    await step(page, "chart").locator("summary").click()
    await expect_that(step(page, "chart").locator("figure.chart img")).to_have_count(1)
    await expect_that(step(page, "chart").locator("figure.chart img")).to_have_js_property("complete", True)
    graph = await page.evaluate(GRAPH_FIT)
    assert graph["overflow"] <= 0 and len(graph["scales"]) == 1 and graph["scales"][0] >= 0.9, graph
    await shoot("execution")
    await context.close()
    assert problems.seen == [], "\n".join(problems.seen)
