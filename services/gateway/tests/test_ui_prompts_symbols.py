"""The prompts and symbols pages in-process: checks as you type, new templates, saving versions, their diffs, and scope.

The browser test (tests/e2e/test_web_ui_prompts.py) drives them in Chromium against the whole
system, market-data included; here no market-data runs, so the symbols pages must explain that.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from fastapi import FastAPI

from services.gateway.tests.conftest import ApiToken, http_client
from tradelane.gateway.ui.textdiff import DiffLine, unified

HTML = {"Accept": "text/html,application/xhtml+xml"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
TEXT = "Analyse {{ symbol }}.\nPrice {{ latest_price | price }}."


@pytest.fixture
async def browser(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client with no token of its own that keeps cookies, as a browser does."""
    async with http_client(app) as client:
        yield client


async def _log_in(browser: httpx.AsyncClient, token: str) -> dict[str, str]:
    """Log in as the login page does; the headers an htmx change sends."""
    response = await browser.post("/api/session", json={"token": token})
    assert response.status_code == 200, response.text
    return {"X-CSRF-Token": response.json()["csrf_token"]} | FORM


async def _prompt(client: httpx.AsyncClient) -> dict[str, Any]:
    created = await client.post("/api/prompts", json={"name": "ui-daily", "type": "analysis", "text": TEXT})
    assert created.status_code == 201, created.text
    return dict(created.json())


def test_a_unified_diff_tags_added_removed_and_unchanged_lines() -> None:
    lines = unified("a\n--b\nc", "a\nB\nc", before_name="version 1", after_name="version 2")
    assert lines == [
        DiffLine("header", "--- version 1"),
        DiffLine("header", "+++ version 2"),
        DiffLine("hunk", "@@ -1,3 +1,3 @@"),
        DiffLine("context", " a"),
        DiffLine("removed", "---b"),
        DiffLine("added", "+B"),
        DiffLine("context", " c"),
    ]
    assert unified("same", "same", before_name="x", after_name="y") == []


async def test_the_editor_shows_an_undefined_variable_and_then_that_the_text_is_fine(
    browser: httpx.AsyncClient, client: httpx.AsyncClient, api_token: ApiToken
) -> None:
    headers = await _log_in(browser, await api_token("operate"))
    prompt = await _prompt(client)
    page = await browser.get(f"/prompts/{prompt['id']}", headers=HTML)
    assert 'hx-post="/prompts/validate" hx-trigger="keyup changed delay:400ms"' in page.text
    form = {"type": "analysis", "language": "en"}
    wrong = await browser.post("/prompts/validate", content=urlencode({**form, "text": "{{ prise }}"}), headers=headers)
    assert re.search(r"line 1: [^<]*undefined variable &#39;prise&#39;", wrong.text)
    right = await browser.post("/prompts/validate", content=urlencode({**form, "text": TEXT}), headers=headers)
    assert 'id="prompt-valid"' in right.text and "latest_price, symbol" in right.text


async def test_saving_a_changed_text_adds_a_version_whose_diff_marks_the_changed_line(
    browser: httpx.AsyncClient, client: httpx.AsyncClient, api_token: ApiToken
) -> None:
    headers = await _log_in(browser, await api_token("operate"))
    prompt = await _prompt(client)
    changed = urlencode({"text": TEXT.replace("Analyse", "Study")})
    saved = await browser.post(f"/prompts/{prompt['id']}/versions", content=changed, headers=headers)
    assert "Saved as version 2." in saved.text
    again = await browser.post(f"/prompts/{prompt['id']}/versions", content=changed, headers=headers)
    assert "Nothing to save" in again.text
    diff = await browser.get(f"/prompts/{prompt['id']}/versions/2/diff", headers=HTML)
    assert '<span class="diff-removed">-Analyse {{ symbol }}.</span>' in diff.text
    assert '<span class="diff-added">+Study {{ symbol }}.</span>' in diff.text
    assert (await client.get(f"/api/prompts/{prompt['id']}")).json()["latest_version"] == 2


async def test_a_text_the_api_refuses_is_not_saved_and_says_why(
    browser: httpx.AsyncClient, client: httpx.AsyncClient, api_token: ApiToken
) -> None:
    headers = await _log_in(browser, await api_token("operate"))
    prompt = await _prompt(client)
    refused = await browser.post(
        f"/prompts/{prompt['id']}/versions", content=urlencode({"text": "{{ prise }}"}), headers=headers
    )
    assert "Not saved:" in refused.text and "prise" in refused.text
    assert (await client.get(f"/api/prompts/{prompt['id']}")).json()["latest_version"] == 1


async def test_a_new_template_is_refused_at_its_fields_then_created_and_opened(
    browser: httpx.AsyncClient, client: httpx.AsyncClient, api_token: ApiToken
) -> None:
    headers = await _log_in(browser, await api_token("operate"))
    await _prompt(client)
    page = (await browser.get("/prompts/new", headers=HTML)).text
    assert 'hx-post="/prompts/validate" hx-trigger="keyup changed delay:400ms"' in page
    assert "Analyse {{ symbol }}" in page  # it starts as the built-in analysis template
    form = {"name": "ui-daily", "type": "analysis", "language": "en", "notes": "", "text": "{{ prise }}"}
    refused = await browser.post("/prompts", content=urlencode(form), headers=headers)
    assert refused.status_code == 200 and 'id="prompt-form"' in refused.text
    assert re.search(r"<li class=\"error\">[^<]*line 1[^<]*prise", refused.text)
    taken = await browser.post("/prompts", content=urlencode({**form, "text": TEXT}), headers=headers)
    assert re.search(r'<p class="error" id="e-name">[^<]*ui-daily[^<]*</p>', taken.text)
    assert 'name="name" type="text" value="ui-daily"' in taken.text  # what was typed stays
    created = await browser.post(
        "/prompts", content=urlencode({**form, "name": "ui-weekly", "text": TEXT, "is_default": "on"}), headers=headers
    )
    [stored] = [item for item in (await client.get("/api/prompts")).json() if item["name"] == "ui-weekly"]
    assert created.headers["HX-Redirect"] == f"/prompts/{stored['id']}"
    assert (stored["text"], stored["is_default"], stored["latest_version"]) == (TEXT, True, 1)


async def test_the_preview_renders_the_editors_text_over_the_sample(
    browser: httpx.AsyncClient, client: httpx.AsyncClient, api_token: ApiToken
) -> None:
    headers = await _log_in(browser, await api_token("operate"))
    prompt = await _prompt(client)
    form = urlencode({"text": TEXT, "execution_id": ""})
    preview = await browser.post(f"/prompts/{prompt['id']}/preview", content=form, headers=headers)
    assert '<pre class="rendered" id="rendered-prompt">Analyse AAPL.\nPrice 222.37.</pre>' in preview.text


async def test_a_read_token_sees_the_text_but_no_control_that_changes_it(
    browser: httpx.AsyncClient, client: httpx.AsyncClient, api_token: ApiToken
) -> None:
    await _log_in(browser, await api_token("read"))
    prompt = await _prompt(client)
    page = (await browser.get(f"/prompts/{prompt['id']}", headers=HTML)).text
    assert "readonly>Analyse {{ symbol }}." in page
    assert "hx-post" not in page
    listing = (await browser.get("/prompts", headers=HTML)).text
    assert f'href="/prompts/{prompt["id"]}"' in listing
    assert 'href="/prompts/new"' not in listing
    assert (await browser.get("/prompts/new", headers=HTML)).status_code == 403
    assert 'id="refresh-cache"' not in (await browser.get("/symbols", headers=HTML)).text


async def test_the_symbols_page_says_when_market_data_does_not_answer(
    browser: httpx.AsyncClient, api_token: ApiToken
) -> None:
    await _log_in(browser, await api_token("operate"))
    page = await browser.get("/symbols", headers=HTML)
    assert page.status_code == 200
    assert "market-data" in page.text and 'id="refresh-cache"' in page.text
    suggestions = await browser.get("/symbols/suggestions?q=AAP", headers=HTML)
    assert suggestions.status_code == 200 and 'class="error"' in suggestions.text
    assert (await browser.get("/symbols/suggestions?q=", headers=HTML)).text.count("<li") == 0
