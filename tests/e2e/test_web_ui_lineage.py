"""The lineage viewer in a real browser, against ``tradelane up`` with a fake OpenAI-compatible model on loopback.

One system per module, its analyst pointed at the fake model (so the analysis step has a rendered
prompt, an answer, tokens and a cost to show). As in ``test_web_ui``, every test fails on a console
error, a page error, a failed request or an answer of 400 or more.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page
from playwright.async_api import expect as expect_that

from tests.e2e import test_web_ui as web_ui
from tests.e2e.conftest import Up, finished_execution, start_up
from tests.e2e.test_healing import STRATEGY
from tests.e2e.test_llm_pipeline import reading
from tests.e2e.test_web_ui import DESKTOP, FINISHED, LIVE_SECONDS, PHONE, SCREENSHOTS, Problems, _context, log_in, step
from tests.support.waiting import eventually

from llm_analyst_tests.fake_llm import FakeLlmServer, answer  # isort: skip (on the path once test_llm_pipeline is imported)

pytestmark = [pytest.mark.e2e, pytest.mark.chromium]

# the logged-in page and the gateway of this module's system, as test_web_ui defines them (the browser is
# the package's)
page, gateway, admin_token = web_ui.page, web_ui.gateway, web_ui.admin_token

MODEL = "gpt-4o-mini"
"""A model in the default price table, so each call has a cost."""
ANALYSIS_SECONDS = 3.0
"""How long the fake model takes to answer: the page is open while the analysis step runs."""
VERSION_1 = "Version one: analyse {{ symbol }} on the {{ timeframe }} timeframe at {{ latest_price | price }}."
VERSION_2 = "Version two: read {{ symbol }} ({{ timeframe }}); RSI {{ indicators.rsi_14 | number(1) }}."
PIPELINE = ("requested", "market_data", "indicators", "chart", "analysis")


@pytest.fixture(scope="module")
async def fake_llm() -> AsyncIterator[FakeLlmServer]:
    server = FakeLlmServer()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory, fake_llm: FakeLlmServer) -> Iterator[Up]:
    running = start_up(
        tmp_path_factory.mktemp("web-ui-lineage") / "state",
        TRADELANE_LLM_BASE_URL=fake_llm.base_url,
        TRADELANE_LLM_API_KEY="e2e-key",
        TRADELANE_LLM_MODEL=MODEL,
        TRADELANE_LLM_TIMEOUT="20",
    )
    try:
        yield running
    finally:
        running.interrupt()


@pytest.fixture(scope="module")
async def quiet(up: Up, gateway: str, fake_llm: FakeLlmServer) -> Up:
    """The system with its demo strategy paused and none of its runs left, so that only this module's runs
    ask the fake model and take its scripted answers.

    The demo's runs so far wait in the analysis step for an answer (the fake model has none scripted, so
    they retry): each gets one, then finishes.
    """
    async with up.client() as client:
        for strategy in (await client.get("/api/strategies")).json():
            if strategy["definition"]["active"]:
                paused = {**strategy["definition"], "active": False}
                replaced = await client.put(f"/api/strategies/{strategy['id']}", json=paused)
                assert replaced.status_code == 200, replaced.text
        running = (await client.get("/api/executions", params={"status": "running"})).json()
        fake_llm.script(*(answer(reading(50)) for _ in running))

        async def idle() -> bool:
            return not (await client.get("/api/executions", params={"status": "running"})).json()

        await eventually(idle, "the demo strategy's runs to finish", timeout=LIVE_SECONDS)
    assert fake_llm.pending == 0, "a demo run did not take its answer"
    return up


async def llm_strategy(up: Up, name: str) -> dict[str, Any]:
    """A strategy analysed by the model with version 1 of a new prompt template (which also has a version 2)."""
    async with up.client() as client:
        template = await client.post(
            "/api/prompts", json={"name": f"{name}-prompt", "type": "analysis", "text": VERSION_1}
        )
        assert template.status_code == 201, template.text
        template_id = template.json()["id"]
        updated = await client.patch(f"/api/prompts/{template_id}", json={"text": VERSION_2})
        assert updated.status_code == 200, updated.text
        analysis = {"analyst": "llm", "prompt_template_id": template_id, "prompt_version": 1}
        created = await client.post("/api/strategies", json={**STRATEGY, "name": name, "analysis": analysis})
        assert created.status_code == 201, created.text
        return dict(created.json())


def node(page: Page, name: str) -> Any:
    return page.locator(f"#pipeline-graph g.node[data-step='{name}']")


async def test_a_run_is_followed_live_on_the_graph_then_replayed_with_another_prompt_version_and_compared(
    page: Page, quiet: Up, fake_llm: FakeLlmServer, tmp_path: Path
) -> None:
    fake_llm.script(answer(reading(40), delay=ANALYSIS_SECONDS), answer(reading(75)))
    await llm_strategy(quiet, "ui-lineage")
    await page.goto("/strategies")
    await page.locator("tr", has_text="ui-lineage").get_by_role("button", name="Run now").click()
    await page.wait_for_url(re.compile(r"/executions/[0-9a-f-]{36}$"))
    await page.evaluate("window.stillTheSamePage = true")

    # the model takes seconds to answer: the graph shows the analysis running, then every node done
    await expect_that(node(page, "analysis")).to_have_attribute("data-status", "running", timeout=LIVE_SECONDS * 1000)
    await expect_that(node(page, "signal")).to_have_attribute("data-status", "pending")
    for name in PIPELINE:
        await expect_that(node(page, name)).to_have_attribute("data-status", "succeeded", timeout=LIVE_SECONDS * 1000)
    await expect_that(node(page, "signal")).to_have_attribute("data-status", re.compile("^(succeeded|rejected)$"))
    await expect_that(node(page, "analysis")).to_contain_text(re.compile(r"succeeded · [0-9.]+ m?s"))
    await expect_that(page.locator("#execution-status")).to_have_text(FINISHED)
    assert await page.evaluate("window.stillTheSamePage === true")

    await expect_that(page.locator("#signal-summary .signal-card h3")).to_have_text(
        re.compile("^(Signal|Rejected candidate)$")
    )
    await expect_that(page.locator("#signal-summary .signal-card")).to_contain_text("Confidence")
    await expect_that(page.locator("#no-orders")).to_contain_text("placed no order")

    # the interactive chart: plotly.js under the strict CSP (a refused inline style would be a console error)
    interactive = page.locator("details.interactive-chart")
    await interactive.locator("summary").focus()
    await page.keyboard.press("Enter")
    await expect_that(interactive.locator(".plotly-target svg.main-svg").first).to_be_visible()
    await expect_that(interactive.locator(".plotly-status")).to_have_text("")

    analysis = step(page, "analysis")
    await analysis.locator(":scope > summary").click()
    await expect_that(analysis.locator(".llm-prompt")).to_contain_text("Version one: analyse AAPL on the 1 day")
    await expect_that(analysis.locator(".llm-answer")).to_contain_text('"confidence": 40')
    await expect_that(analysis.locator(".llm-tokens")).to_have_text("1200 in · 300 out")
    await expect_that(analysis.locator(".llm-cost")).to_have_text(re.compile(r"^0\.\d+$"))
    await expect_that(analysis.locator(".messages")).to_contain_text("Output message")

    async with page.expect_download() as downloading:
        await page.locator("#export-csv").click()
    exported = tmp_path / "lineage.csv"
    await (await downloading.value).save_as(exported)
    rows = list(csv.DictReader(io.StringIO(exported.read_text())))
    assert [row["step"] for row in rows][: len(PIPELINE) + 1] == [*PIPELINE, "signal"]

    await page.locator("#replay-from-step").select_option("analysis")
    await page.locator("#replay-prompt-version").fill("2")
    await page.locator("#replay-prompt-version").press("Enter")
    await expect_that(page.locator("#replay-started")).to_contain_text("Replay started")
    await page.locator("#replay-link").click()
    await page.wait_for_url(re.compile(r"/executions/[0-9a-f-]{36}$"))
    await expect_that(page.locator("#execution-status")).to_have_text(FINISHED, timeout=LIVE_SECONDS * 1000)
    replayed_analysis = step(page, "analysis")
    await replayed_analysis.locator(":scope > summary").click()
    await expect_that(replayed_analysis.locator(".llm-prompt")).to_contain_text("Version two: read AAPL (1 day)")
    await expect_that(replayed_analysis.locator(".messages")).to_contain_text("Output message")  # before leaving

    await page.locator("#compare").click()
    await page.wait_for_url(re.compile(r"/executions/[0-9a-f-]{36}/diff/[0-9a-f-]{36}$"))
    changed = page.locator(".diff-step[data-step='analysis'] table.diff-output")
    await expect_that(changed.locator("tr", has_text="strategy.analysis.prompt_version")).to_contain_text("2")
    await expect_that(changed.locator("tr", has_text=re.compile(r"^analysis\.confidence"))).to_contain_text("75")


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280x800", "390x844"])
async def test_the_lineage_viewer_and_the_diff_fit_the_screen_and_are_saved_as_screenshots(
    browser: Browser, gateway: str, admin_token: str, quiet: Up, fake_llm: FakeLlmServer, viewport: dict[str, int]
) -> None:
    fake_llm.script(answer(reading(40)), answer(reading(75)))
    strategy = await llm_strategy(quiet, f"ui-lineage-shots-{viewport['width']}")
    async with quiet.client() as client:
        run = await client.post(f"/api/strategies/{strategy['id']}/run")
        original = run.json()["execution_id"]
        await finished_execution(client, original)
        replay = await client.post(
            f"/api/executions/{original}/replay", json={"from_step": "analysis", "prompt_version": 2}
        )
        assert replay.status_code == 202, replay.text
        replayed = replay.json()["execution_id"]
        await finished_execution(client, replayed)
    context = await _context(browser, gateway, viewport)
    problems = Problems()
    page = await context.new_page()
    problems.watch(page)
    size = f"{viewport['width']}x{viewport['height']}"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    async def shoot(name: str) -> None:
        await page.wait_for_load_state("networkidle")  # the favicon too: leaving earlier aborts it
        overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{name} is {overflow}px wider than a {size} screen"
        await page.screenshot(path=SCREENSHOTS / f"{name}-{size}.png", full_page=True)

    await log_in(page, admin_token)
    await page.goto(f"/executions/{original}")
    await expect_that(node(page, "signal")).to_have_attribute("data-status", re.compile("^(succeeded|rejected)$"))
    await step(page, "analysis").locator(":scope > summary").click()
    await expect_that(step(page, "analysis").locator(".llm-prompt")).to_be_visible()
    await expect_that(step(page, "analysis").locator(".messages")).to_contain_text("Output message")
    await page.locator("details.interactive-chart summary").click()
    await expect_that(page.locator("details.interactive-chart svg.main-svg").first).to_be_visible()
    await shoot("execution-lineage")
    await page.goto(f"/executions/{original}/diff/{replayed}")
    await expect_that(page.locator(".diff-step[data-step='analysis']")).to_contain_text("prompt_version")
    await shoot("execution-diff")
    await context.close()
    assert problems.seen == [], "\n".join(problems.seen)
