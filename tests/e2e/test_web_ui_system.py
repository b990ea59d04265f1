"""The system, dead-letter and live-log pages in a real browser against ``tradelane up``.

Reuses the browser, login and problem watching of :mod:`tests.e2e.test_web_ui`; a dead letter
is produced the way a broken producer would: an invalid message published on a pipeline
subject with nats-py, which the step consuming it rejects. The shared system's services stream
their log lines from DEBUG up (the e2e conftest's ``WEB_UI_ENV``), so that every step of a run
has a line on the live log (``event_published``, ``step_recorded``).
"""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID, uuid4

import nats
import pytest
from playwright.async_api import Browser, Page
from playwright.async_api import expect as expect_that

from tests.e2e import test_web_ui
from tests.e2e.conftest import Up, finished_execution
from tests.e2e.test_web_ui import (
    DESKTOP,
    LIVE_SECONDS,
    PHONE,
    SCREENSHOTS,
    Problems,
    _context,
    created_strategy,
    log_in,
)
from tests.support.waiting import eventually
from tradelane.cli.endpoints import resolve_endpoints
from tradelane.contracts import subjects
from tradelane.contracts.events import StepFailed
from tradelane.contracts.notifications import NotificationKind
from tradelane.runtime.settings import Settings

pytestmark = [pytest.mark.e2e, pytest.mark.chromium]

up = test_web_ui.up
gateway = test_web_ui.gateway
admin_token = test_web_ui.admin_token
page = test_web_ui.page
"""test_web_ui's fixtures: the shared system, and signed-in pages of it."""


async def publish(up: Up, subject: str, body: bytes) -> None:
    """Publish on a stored subject as the operator identity (the CLI's), like a producer would."""
    endpoints = resolve_endpoints(Settings(state_dir=up.state_dir))
    credentials = endpoints.nats_credentials
    connection = await nats.connect(endpoints.nats.url, **(credentials.connect_options() if credentials else {}))
    try:
        await connection.jetstream().publish(
            subject, body, headers={"Nats-Msg-Id": str(uuid4())}, stream=subjects.stream_of(subject)
        )
    finally:
        await connection.close()


def failed_step(execution_id: UUID) -> bytes:
    """A StepFailed of an execution the test names, so the live log's filter has a known id to match."""
    return (
        StepFailed(
            execution_id=execution_id,
            strategy_id=uuid4(),
            step="indicators",
            kind="permanent",
            error="a test's own failure",
            input_subject=subjects.MARKET_DATA_FETCHED,
            deliveries=1,
        )
        .model_dump_json()
        .encode()
    )


async def test_the_system_page_lists_the_services_with_their_health(page: Page) -> None:
    await page.goto("/system")
    processes = page.locator("#processes")
    for service in ("market-data", "indicators", "lineage", "broker"):
        await expect_that(processes).to_contain_text(service)
    await expect_that(processes.locator(".status").first).to_have_text("ready")
    await expect_that(page.locator("#streams")).to_contain_text(subjects.PIPELINE_STREAM)
    await expect_that(page.locator("#llm-title")).to_be_visible()
    await expect_that(page.locator("#notifier")).to_contain_text("No notification URL is configured")
    await expect_that(page.locator("#notifier")).to_contain_text("TRADELANE_NOTIFY_URLS")
    await expect_that(page.locator("#notify-kinds li")).to_have_count(len(NotificationKind))
    await page.goto("/")
    await expect_that(page.locator("#services")).to_contain_text("lineage")


async def test_the_live_log_shows_a_runs_events_without_a_reload_and_filters_by_execution(page: Page, up: Up) -> None:
    strategy = await created_strategy(up, "ui-live-log")
    await page.goto("/live-log")
    await expect_that(page.locator("#log-state")).to_contain_text("Listening since")
    await page.evaluate("window.stillTheSamePage = true")
    async with up.client() as client:
        run = await client.post(f"/api/strategies/{strategy['id']}/run")
    execution_id = run.json()["execution_id"]
    lines = page.locator("#log-lines li.event-line", has=page.locator(f"a[href='/executions/{execution_id}']"))
    await expect_that(lines.filter(has_text=subjects.EXECUTION_REQUESTED)).to_have_count(1, timeout=LIVE_SECONDS * 1000)
    await expect_that(
        lines.filter(has_text=subjects.SIGNAL_GENERATED).or_(lines.filter(has_text=subjects.SIGNAL_REJECTED)).first
    ).to_be_visible(timeout=LIVE_SECONDS * 1000)
    assert await page.evaluate("window.stillTheSamePage === true")

    failing = uuid4()
    await page.locator("#filter-execution").fill(str(failing))
    await page.locator("#filter-execution").press("Enter")
    await expect_that(page).to_have_url(re.compile(f"execution_id={failing}"))
    await expect_that(page.locator("#log-state")).to_contain_text("Listening since")
    async with up.client() as client:
        other = await client.post(f"/api/strategies/{strategy['id']}/run")
        await finished_execution(client, other.json()["execution_id"])
    await publish(up, subjects.STEP_FAILED, failed_step(failing))
    events = page.locator("#log-lines li.event-line")
    await expect_that(events).to_have_count(1, timeout=LIVE_SECONDS * 1000)
    await expect_that(events).to_contain_text("indicators failed")
    await expect_that(page.locator("#log-lines li.event-line.problem")).to_have_count(1)
    # the execution filter keeps the log lines of the same execution: lineage recording the failure
    recorded = page.locator("#log-lines li.service-line", has_text="step_recorded")
    await expect_that(recorded).to_contain_text("lineage", timeout=LIVE_SECONDS * 1000)
    others = page.locator("#log-lines li", has_not=page.locator(f"a[href='/executions/{failing}']"))
    await expect_that(others).to_have_count(0)


async def _filter_live_log(page: Page, **choices: str) -> None:
    """Choose in the live log's form (``service="indicators"``...) and submit it from the keyboard."""
    for name, value in choices.items():
        await page.locator(f"#filter-{name}").select_option(value)
    await page.get_by_role("button", name="Filter").press("Enter")
    for name, value in choices.items():
        await expect_that(page).to_have_url(re.compile(f"{name}={value}"))
    await expect_that(page.locator("#log-state")).to_contain_text("Listening since")


async def test_the_live_log_shows_a_services_log_lines_and_filters_them_by_service_and_level(
    page: Page, up: Up
) -> None:
    strategy = await created_strategy(up, "ui-live-log-lines")
    await page.goto("/live-log")
    await _filter_live_log(page, service="indicators", source="logs")
    async with up.client() as client:
        run = await client.post(f"/api/strategies/{strategy['id']}/run")
    execution = page.locator(f"a[href='/executions/{run.json()['execution_id']}']")
    published = page.locator("#log-lines li.service-line", has=execution, has_text="event_published")
    await expect_that(published.first).to_contain_text("indicators", timeout=LIVE_SECONDS * 1000)
    await expect_that(published.first).to_contain_text(subjects.INDICATORS_COMPUTED)
    await expect_that(page.locator("#log-lines li", has_not_text="indicators")).to_have_count(0)
    await expect_that(page.locator("#log-lines li.event-line")).to_have_count(0)

    await _filter_live_log(page, service="market-data", level="warning", source="both")
    async with up.client() as client:
        quiet = await client.post(f"/api/strategies/{strategy['id']}/run")  # market-data logs it at debug only
        await finished_execution(client, quiet.json()["execution_id"])
    await publish(up, subjects.EXECUTION_REQUESTED, b'{"refused": "by market-data"}')
    refused = page.locator("#log-lines li.service-line.problem", has_text="step_failed")
    await expect_that(refused).to_contain_text("market-data", timeout=LIVE_SECONDS * 1000)
    await expect_that(page.locator("#log-lines li.level-debug, #log-lines li.level-info")).to_have_count(0)


async def test_a_dead_letter_is_listed_with_its_error_and_redriven_after_a_confirm(page: Page, up: Up) -> None:
    await publish(up, subjects.EXECUTION_REQUESTED, b'{"broken": true}')

    async def rejected_by_market_data() -> dict[str, Any] | None:
        async with up.client() as client:
            listed = (await client.get("/api/dlq")).json()
        return next((letter for letter in listed if letter["step"] == "market_data"), None)

    dead_letter = await eventually(rejected_by_market_data, "market-data's dead letter of the invalid request")
    await page.goto("/dead-letters")
    row = page.locator(f"#dead-letter-{dead_letter['id']}")
    await expect_that(row).to_contain_text(subjects.EXECUTION_REQUESTED)
    await expect_that(row).to_contain_text("invalid_input")
    await expect_that(row).to_contain_text(dead_letter["error"][:40])
    page.once("dialog", lambda dialog: dialog.accept())
    await row.get_by_role("button", name="Redrive").focus()
    await page.keyboard.press("Enter")
    await expect_that(page.locator("#dead-letter-message")).to_contain_text(
        f"Dead letter {dead_letter['id']} sent again on {subjects.EXECUTION_REQUESTED}"
    )
    await expect_that(row).to_have_count(0)


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280x800", "390x844"])
async def test_the_system_pages_fit_the_screen_and_are_saved_as_screenshots(
    browser: Browser, gateway: str, admin_token: str, up: Up, viewport: dict[str, int]
) -> None:
    strategy = await created_strategy(up, f"ui-system-shots-{viewport['width']}")
    context = await _context(browser, gateway, viewport)
    problems = Problems()
    page = await context.new_page()
    problems.watch(page)
    size = f"{viewport['width']}x{viewport['height']}"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await log_in(page, admin_token)
    for name, path in [("dead-letters", "/dead-letters"), ("system", "/system"), ("live-log", "/live-log")]:
        await page.goto(path)
        if name == "live-log":
            await expect_that(page.locator("#log-state")).to_contain_text("Listening since")
            async with up.client() as client:
                await client.post(f"/api/strategies/{strategy['id']}/run")
            await expect_that(page.locator("#log-lines li").first).to_be_visible(timeout=LIVE_SECONDS * 1000)
        overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{name} is {overflow}px wider than a {size} screen"
        await page.screenshot(path=SCREENSHOTS / f"{name}-{size}.png", full_page=True)
    await page.goto("/")
    await expect_that(page.locator("#services")).to_be_visible()
    await page.screenshot(path=SCREENSHOTS / f"dashboard-services-{size}.png", full_page=True)
    await context.close()
    assert problems.seen == [], "\n".join(problems.seen)
