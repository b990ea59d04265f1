"""The dead letters, system and live log pages, in-process: CSP, routes they call, scope, and their forms.

The browser test (tests/e2e/test_web_ui_system.py) drives them in Chromium against the whole system.
"""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi import FastAPI

from services.gateway.tests.conftest import ApiToken
from services.gateway.tests.test_dlq_api import _dead_letter
from services.gateway.tests.test_system_api import notifier
from services.gateway.tests.test_ui import _FORM, HTML, HTMX_PATH, SSE_PATH, _log_in, _page, _served, browser
from tradelane.contracts import subjects
from tradelane.contracts.notifications import NotificationKind
from tradelane.runtime.bus import EventBus

PAGES = ("/dead-letters", "/system", "/live-log")
__all__ = ["browser", "notifier"]  # fixtures of test_ui (the cookie-keeping client) and test_system_api, found by name


async def test_the_pages_allow_only_this_origin_and_call_only_routes_of_the_app(
    app: FastAPI, browser: httpx.AsyncClient, api_token: ApiToken, bus: EventBus
) -> None:
    await _dead_letter(bus)
    await _log_in(browser, await api_token("admin"))
    requests: set[tuple[str, str]] = set()
    for path in PAGES:
        response = await browser.get(path, headers=HTML)
        assert response.status_code == 200, response.text
        assert "script-src 'self';" in response.headers["content-security-policy"]
        page = response.text
        assert "<script>" not in page and "<style" not in page and " style=" not in page
        requests |= {(match["method"].upper(), match["path"]) for match in HTMX_PATH.finditer(page)}
        requests |= {("GET", match["path"]) for match in SSE_PATH.finditer(page)}
    assert ("POST", "/dead-letters/redrive-all") in requests
    assert ("GET", "/live-log/stream") in requests
    unserved = [(method, path) for method, path in requests if not _served(app, method, path.split("?", 1)[0])]
    assert unserved == []


async def test_a_read_token_sees_the_dead_letters_but_no_redrive(
    browser: httpx.AsyncClient, api_token: ApiToken, bus: EventBus
) -> None:
    request = await _dead_letter(bus, error="provider down for good")
    await _log_in(browser, await api_token("read"))
    page = await _page(browser, "/dead-letters")
    assert "provider down for good" in page and str(request.execution_id)[:8] in page
    assert "hx-post" not in page


async def test_redriving_from_the_page_sends_it_again_and_lists_what_is_left(
    browser: httpx.AsyncClient, api_token: ApiToken, bus: EventBus
) -> None:
    await _dead_letter(bus)
    csrf = await _log_in(browser, await api_token("operate"))
    page = await _page(browser, "/dead-letters")
    [dead_letter_id] = re.findall(r'id="dead-letter-(\d+)"', page)
    redriven = await browser.post(f"/dead-letters/{dead_letter_id}/redrive", headers={"X-CSRF-Token": csrf} | _FORM)
    assert redriven.status_code == 200
    assert f"Dead letter {dead_letter_id} sent again on {subjects.EXECUTION_REQUESTED}" in redriven.text
    assert f'id="dead-letter-{dead_letter_id}"' not in redriven.text
    again = await browser.post(f"/dead-letters/{dead_letter_id}/redrive", headers={"X-CSRF-Token": csrf} | _FORM)
    assert f"Dead letter {dead_letter_id} not redriven" in again.text


async def test_the_live_log_filter_form_takes_an_empty_execution_and_explains_a_wrong_one(
    browser: httpx.AsyncClient, api_token: ApiToken
) -> None:
    await _log_in(browser, await api_token("read"))
    empty = await _page(browser, "/live-log?execution_id=&subject=pipeline.signal&service=&level=debug&source=both")
    assert 'sse-connect="/live-log/stream?subject=pipeline.signal"' in empty
    wrong = await _page(browser, "/live-log?execution_id=nope&subject=&service=broker&level=error&source=logs")
    assert "Not an execution id" in wrong
    assert 'sse-connect="/live-log/stream?service=broker&amp;level=error&amp;source=logs"' in wrong
    assert '<option value="broker" selected>' in wrong


async def test_the_system_page_says_which_services_do_not_answer(
    browser: httpx.AsyncClient, api_token: ApiToken
) -> None:
    await _log_in(browser, await api_token("read"))
    page = await _page(browser, "/system")
    assert "silent" in page and "lineage" in page
    assert subjects.PIPELINE_STREAM in page
    assert "No model calls in this window." in page
    assert "The notifier does not answer" in page and "tradelane run notifier" in page


@pytest.mark.usefixtures("notifier")
async def test_the_system_page_shows_where_notifications_go_masked_and_which_are_sent(
    browser: httpx.AsyncClient, api_token: ApiToken
) -> None:
    await _log_in(browser, await api_token("read"))
    page = await _page(browser, "/system")
    [target] = re.findall(r'<ul id="notify-targets">\s*<li><code class="id">([^<]+)</code>', page)
    assert "alerts:****@example.org" in target
    assert "hunter22" not in page
    shown = {kind: state for state, kind in re.findall(r'">(on|off)</span> <code>(\w+)</code>', page)}
    assert shown.keys() == {kind.value for kind in NotificationKind}
    assert {kind for kind, state in shown.items() if state == "on"} == {"fill", "halt", "llm_budget"}
    assert 'id="notify-max-age">1 h' in page
