"""The Prompts and Symbols pages in a real browser (Debian's Chromium) against ``tradelane up``.

The web UI modules' shared system and browser; the helpers (the failure watch, logging in, the viewports, the
screenshot directory) are the web UI module's. An operator edits a prompt and sees an undefined
variable flagged while typing, fixes it, previews it with a finished execution's variables,
saves a version and reads its diff; creates a new template past a refused text and a taken
name; then searches the simulated provider's symbols and opens one. Every page is saved as a
screenshot at 1280x800 and 390x844.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import Browser, Page
from playwright.async_api import expect as expect_that

from tests.e2e import test_web_ui as web_ui
from tests.e2e.conftest import Up, finished_execution
from tests.e2e.test_web_ui import DESKTOP, PHONE, SCREENSHOTS, Problems, _context, created_strategy, log_in, settled

pytestmark = [pytest.mark.e2e, pytest.mark.chromium]

# The web UI module's fixtures, by name: the shared system, and signed-in pages of it.
up = web_ui.up
gateway = web_ui.gateway
admin_token = web_ui.admin_token
page = web_ui.page

TEXT = "Analyse {{ symbol }} on the {{ timeframe }} chart.\nLatest price {{ latest_price | price }}."
TYPO = "Analyse {{ symbol }} on the {{ timeframe }} chart.\nLatest price {{ latest_prise | price }}."
FIXED = "Study {{ symbol }} on the {{ timeframe }} chart.\nLatest price {{ latest_price | price }}."


async def _prompt(up: Up, name: str) -> dict[str, Any]:
    async with up.client() as client:
        created = await client.post("/api/prompts", json={"name": name, "type": "analysis", "text": TEXT})
        assert created.status_code == 201, created.text
        return dict(created.json())


async def _finished_run(up: Up, name: str, symbol: str) -> str:
    """A finished execution of a new strategy on ``symbol``; its id."""
    strategy = await created_strategy(up, name, symbol={"symbol": symbol})
    async with up.client() as client:
        run = await client.post(f"/api/strategies/{strategy['id']}/run")
        execution_id = str(run.json()["execution_id"])
        await finished_execution(client, execution_id)
    return execution_id


async def _retype(page: Page, text: str) -> None:
    """Replace the editor's text by typing it, key by key, as an operator would."""
    editor = page.locator("#prompt-text")
    await editor.focus()
    await page.keyboard.press("ControlOrMeta+a")
    await page.keyboard.press("Delete")
    await editor.press_sequentially(text)


async def test_a_prompt_is_checked_while_typed_previewed_saved_and_its_diff_shown(page: Page, up: Up) -> None:
    execution_id = await _finished_run(up, "ui-prompt-msft", "MSFT")
    prompt = await _prompt(up, "ui-editor")
    await page.goto("/prompts")
    await page.locator("#prompt-list").get_by_role("link", name="ui-editor").click()
    await page.wait_for_url(re.compile(f"/prompts/{prompt['id']}$"))

    await _retype(page, TYPO)
    problems = page.locator("#prompt-problems")
    await expect_that(problems.locator(".problem-undefined_variable")).to_contain_text("line 2")
    await expect_that(problems).to_contain_text("latest_prise")
    await _retype(page, FIXED)
    await expect_that(page.locator("#prompt-valid")).to_be_visible()
    await expect_that(problems.locator(".error")).to_have_count(0)

    await page.locator("#preview-execution").select_option(execution_id)
    await page.locator("#preview").focus()
    await page.keyboard.press("Enter")
    await expect_that(page.locator("#rendered-prompt")).to_contain_text("Study MSFT on the 1 day chart.")
    await expect_that(page.locator("#prompt-preview")).to_contain_text(execution_id)

    await page.locator("#save-version").focus()
    await page.keyboard.press("Enter")
    await expect_that(page.locator("#prompt-history .notice")).to_have_text("Saved as version 2.")
    await settled(page)  # the history was just swapped in: opened before htmx has processed it, it never loads
    latest = page.locator("#version-2")
    await latest.locator("summary").focus()
    await page.keyboard.press("Enter")
    await expect_that(latest.locator(".diff-removed")).to_have_text(
        "-Analyse {{ symbol }} on the {{ timeframe }} chart."
    )
    await expect_that(latest.locator(".diff-added")).to_have_text("+Study {{ symbol }} on the {{ timeframe }} chart.")
    async with up.client() as client:
        stored = (await client.get(f"/api/prompts/{prompt['id']}")).json()
    assert (stored["latest_version"], stored["text"]) == (2, FIXED)


async def test_a_new_template_is_created_after_its_text_and_its_taken_name_are_fixed(page: Page, up: Up) -> None:
    await _prompt(up, "ui-taken")
    await page.goto("/prompts")
    await page.locator("#new-prompt").focus()
    await page.keyboard.press("Enter")
    await page.wait_for_url(re.compile(r"/prompts/new$"))
    await page.get_by_label("Name (unique)").fill("ui-taken")
    await page.get_by_label("Notes (what it is for)").fill("made in the browser")
    await _retype(page, TYPO)
    await expect_that(page.locator("#prompt-problems .problem-undefined_variable")).to_contain_text("latest_prise")

    await page.locator("#create-prompt").focus()
    await page.keyboard.press("Enter")
    await expect_that(page.locator("#form-errors")).to_be_visible()
    await expect_that(page.locator("#prompt-problems .error")).to_contain_text("latest_prise")
    await expect_that(page.locator("#prompt-text")).to_have_attribute("aria-invalid", "true")
    await settled(page)

    await page.locator("#prompt-text").fill(FIXED)  # checked as typed above: now only the name is wrong
    await page.locator("#create-prompt").click()
    await expect_that(page.locator("#e-name")).to_contain_text("ui-taken")
    await expect_that(page.locator("#prompt-problems .error")).to_have_count(0)
    await expect_that(page.locator("#f-name")).to_have_attribute("aria-invalid", "true")
    await settled(page)

    await page.locator("#f-name").fill("ui-created")
    await page.locator("#f-name").press("Enter")
    await page.wait_for_url(re.compile(r"/prompts/[0-9a-f-]{36}$"))
    await expect_that(page.locator("h1")).to_have_text("ui-created")
    await expect_that(page.locator("#prompt-text")).to_have_value(FIXED)
    await expect_that(page.locator("#version-1")).to_be_visible()
    async with up.client() as client:
        [created] = [item for item in (await client.get("/api/prompts")).json() if item["name"] == "ui-created"]
    assert (created["notes"], created["text"]) == ("made in the browser", FIXED)


async def test_a_symbol_is_found_as_it_is_typed_and_its_details_opened(page: Page) -> None:
    await page.goto("/symbols")
    await expect_that(page.locator("#provider")).to_have_text("simulated")
    await page.locator("#symbol-q").press_sequentially("micro")
    match = page.locator("#suggestions a", has_text="MSFT")
    await expect_that(match).to_contain_text("MICROSOFT CORP")
    await match.focus()
    await page.keyboard.press("Enter")
    await page.wait_for_url(re.compile(r"/symbols/\d+$"))
    await expect_that(page.locator("#symbol-title")).to_contain_text("MSFT")
    await expect_that(page.locator("#symbol-details")).to_contain_text("NASDAQ")
    await page.goto("/symbols")
    await expect_that(page.locator("#cache-total")).not_to_have_text("0")
    await page.locator("#refresh-cache").click()
    await expect_that(page.locator("#symbol-cache .notice")).to_contain_text("stale left")


async def _prompt_with_history(up: Up, name: str) -> dict[str, Any]:
    """A prompt with two versions."""
    prompt = await _prompt(up, name)
    async with up.client() as client:
        changed = await client.patch(f"/api/prompts/{prompt['id']}", json={"text": FIXED})
        assert changed.status_code == 200, changed.text
    return prompt


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280x800", "390x844"])
async def test_the_prompts_and_symbols_pages_fit_the_screen_and_are_saved_as_screenshots(
    browser: Browser,
    gateway: str,
    admin_token: str,
    up: Up,
    viewport: dict[str, int],
) -> None:
    prompt = await _prompt_with_history(up, f"ui-shots-{viewport['width']}")
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

    await log_in(page, admin_token)
    await page.goto("/prompts")
    await shoot("prompts")
    await page.goto(f"/prompts/{prompt['id']}")
    await _retype(page, TYPO)
    await expect_that(page.locator("#prompt-problems .error")).to_have_count(1)
    await page.locator("#preview").click()
    await expect_that(page.locator("#rendered-prompt, #prompt-preview .error").first).to_be_visible()
    await page.locator("#version-2 summary").click()
    await expect_that(page.locator("#version-2 .diff-added")).to_have_count(1)
    await shoot("prompt-editor")
    await page.goto("/prompts/new")
    await _retype(page, TYPO)
    await expect_that(page.locator("#prompt-problems .error")).to_have_count(1)
    await shoot("prompt-new")
    await page.goto("/symbols")
    await page.locator("#symbol-q").press_sequentially("A")
    await expect_that(page.locator("#suggestions li").first).to_be_visible()
    await shoot("symbols")
    await page.locator("#suggestions a").first.click()
    await expect_that(page.locator("#symbol-details")).to_be_visible()
    await shoot("symbol")
    await context.close()
    assert problems.seen == [], "\n".join(problems.seen)
