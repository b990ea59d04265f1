"""The strategy form in-process: every field, the live check, editing, and the signals page.

The browser test (tests/e2e/test_web_ui_strategies.py) drives the same pages in Chromium;
these check what the server answers to each form submission.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from urllib.parse import urlencode
from uuid import uuid4

import httpx
import pytest
from fastapi import FastAPI

from services.gateway.tests.conftest import ApiToken, http_client
from services.gateway.tests.test_signals_api import recorded_signal
from tests.support.ledger import ledger_outcome
from tradelane.gateway.state import GatewayState
from tradelane.store.ledger import LedgerRepository

HTML = {"Accept": "text/html"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
async def operator(app: FastAPI, api_token: ApiToken) -> AsyncIterator[httpx.AsyncClient]:
    """A browser-like client logged in with an operate token, sending its CSRF token."""
    async with http_client(app) as browser:
        session = await browser.post("/api/session", json={"token": await api_token("operate")})
        assert session.status_code == 200, session.text
        browser.headers["X-CSRF-Token"] = session.json()["csrf_token"]
        yield browser


async def _post(client: httpx.AsyncClient, path: str, fields: dict[str, str]) -> httpx.Response:
    response = await client.post(path, content=urlencode(fields), headers=FORM | HTML)
    assert response.status_code == 200, response.text
    return response


def _new_form_values(page: str) -> dict[str, str]:
    """The values of the new-strategy form as the page renders it (text inputs, selects, ticked boxes)."""
    form = page[page.index('<form id="strategy-form"') : page.index("</form>")]
    values = dict(re.findall(r'<input id="[^"]+" name="([^"]+)" type="text" value="([^"]*)"', form))
    values |= dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form))
    for name, options in re.findall(r'<select id="[^"]+" name="([^"]+)"[^>]*>(.*?)</select>', form, re.S):
        selected = re.search(r'<option value="([^"]*)" selected>', options)
        chosen = selected or re.search(r'<option value="([^"]*)"', options)
        values[name] = chosen.group(1) if chosen else ""
    ticked = re.findall(r'<input type="checkbox" id="[^"]+" name="([^"]+)"(?: value="([^"]*)")? checked', form)
    values |= {name: value or "on" for name, value in ticked}
    return values


async def test_the_new_form_has_every_field_at_the_apis_defaults(operator: httpx.AsyncClient) -> None:
    page = (await operator.get("/strategies", headers=HTML)).text
    values = _new_form_values(page)
    assert values["duration"] == "1 Y"
    assert values["risk.risk_per_trade"] == "0.01"
    assert values["risk.target_r_multiples"] == "1.5, 3"
    assert values["indicators.0.kind"] == "ma" and values["indicators.0.period"] == "20"
    assert values["analysis.analyst"] == "auto"
    assert {"use_rth", "render_png", "active"} <= set(values)
    assert values["chart_bars"] == "200"
    assert "auto_trade" not in values


async def test_the_check_shows_warnings_and_the_next_five_runs(operator: httpx.AsyncClient) -> None:
    fields = {
        "name": "x",
        "symbol.symbol": "AAPL",
        "risk.risk_per_trade": "0.08",
        "schedule.cron": "0 16 * * 1-5",
        "schedule.timezone": "America/New_York",
    }
    answer = (await _post(operator, "/strategies/check", fields)).text
    assert "risk.risk_per_trade" in answer and "8 %" in answer
    assert len(re.findall(r"<li>\w{3} \d{4}-\d\d-\d\d 16:00 E[SD]T</li>", answer)) == 5


async def test_the_check_puts_an_invalid_cron_next_to_its_field(operator: httpx.AsyncClient) -> None:
    fields = {
        "name": "x",
        "symbol.symbol": "AAPL",
        "schedule.cron": "every day",
        "risk.account_size": "5",
        "chart_bars": "5000",
    }
    answer = (await _post(operator, "/strategies/check", fields)).text
    assert re.search(r'<p class="error" id="e-schedule-cron" hx-swap-oob="true">[^<]+</p>', answer)
    assert re.search(r'<p class="error" id="e-chart_bars" hx-swap-oob="true">[^<]*2000[^<]*</p>', answer)
    assert '<p class="error" id="e-risk-account_size" hx-swap-oob="true" hidden></p>' in answer
    assert 'id="next-runs"' not in answer


async def test_an_error_of_one_indicator_lands_at_its_parameter(operator: httpx.AsyncClient) -> None:
    fields = {"name": "x", "symbol.symbol": "AAPL", "indicators.3.kind": "rsi", "indicators.3.period": "1"}
    answer = (await _post(operator, "/strategies/check", fields)).text
    assert re.search(r'<p class="error" id="e-indicators-3-period" hx-swap-oob="true">[^<]+</p>', answer)


async def test_indicators_are_added_and_removed_without_saving(operator: httpx.AsyncClient) -> None:
    fields = {
        "name": "x",
        "indicators.0.kind": "ma",
        "indicators.0.period": "30",
        "new_indicator": "rsi",
        "add_indicator": "on",
    }
    added = (await _post(operator, "/strategies/form", fields)).text
    assert 'name="indicators.1.kind" value="rsi"' in added and 'name="indicators.1.overbought"' in added
    removed = (await _post(operator, "/strategies/form", fields | {"remove_indicator": "0"})).text
    assert 'name="indicators.0.kind"' not in removed
    listing = (await operator.get("/api/strategies", headers={"Accept": "application/json"})).json()
    assert listing == []


async def test_every_field_is_saved_and_edited_through_the_form(operator: httpx.AsyncClient) -> None:
    fields = {
        "name": "full",
        "symbol.symbol": "msft",
        "symbol.exchange": "SMART",
        "symbol.currency": "USD",
        "symbol.asset_type": "STK",
        "bar_size": "1 hour",
        "duration": "60 D",
        "what_to_show": "MIDPOINT",
        "indicators.0.kind": "ma",
        "indicators.0.period": "50",
        "indicators.0.ma_type": "EMA",
        "indicators.0.source": "close",
        "indicators.1.kind": "patterns",
        "indicators.1.patterns": "cdldoji, CDLHAMMER",
        "analysis.analyst": "offline",
        "analysis.timeframes.6": "1 day",
        "analysis.prompt_version": "",
        "chart_bars": "120",
        "risk.risk_per_trade": "0.02",
        "risk.target_r_multiples": "1, 2, 4",
        "schedule.cron": "0 16 * * 1-5",
        "schedule.timezone": "America/New_York",
        "active": "on",
        "new_indicator": "ma",
    }
    created = (await _post(operator, "/strategies", fields)).text
    assert "Created full" in created
    stored = (await operator.get("/api/strategies", headers={"Accept": "application/json"})).json()[0]
    definition = stored["definition"]
    assert definition["symbol"]["symbol"] == "MSFT" and definition["what_to_show"] == "MIDPOINT"
    assert definition["indicators"][0] == {"kind": "ma", "period": 50, "ma_type": "EMA", "source": "close"}
    assert definition["indicators"][1]["patterns"] == ["CDLDOJI", "CDLHAMMER"]
    assert definition["analysis"]["timeframes"] == ["1 day"]
    assert definition["risk"]["target_r_multiples"] == ["1", "2", "4"]
    assert definition["use_rth"] is False and definition["render_png"] is False
    assert definition["chart_bars"] == 120
    edit = (await operator.get(f"/strategies/{stored['id']}/edit", headers=HTML)).text
    values = _new_form_values(edit)
    assert values["indicators.1.patterns"] == "CDLDOJI, CDLHAMMER"
    assert values["analysis.timeframes.6"] == "1 day"
    saved = await operator.put(
        f"/strategies/{stored['id']}", content=urlencode(values | {"bar_size": "4 hours"}), headers=FORM | HTML
    )
    assert saved.headers["HX-Redirect"] == "/strategies"
    replaced = (await operator.get(f"/api/strategies/{stored['id']}", headers={"Accept": "application/json"})).json()
    assert replaced["version"] == 2
    assert replaced["definition"]["bar_size"] == "4 hours"
    assert replaced["definition"]["indicators"] == definition["indicators"]
    assert replaced["definition"]["analysis"]["timeframes"] == ["1 day"]


async def test_an_edit_the_api_refuses_comes_back_with_the_error_at_its_field(operator: httpx.AsyncClient) -> None:
    created = await _post(operator, "/strategies", {"name": "to-edit", "symbol.symbol": "AAPL"})
    assert "Created to-edit" in created.text
    stored = (await operator.get("/api/strategies", headers={"Accept": "application/json"})).json()[0]
    answer = await operator.put(
        f"/strategies/{stored['id']}",
        content=urlencode({"name": "to-edit", "symbol.symbol": "AAPL", "duration": "forever"}),
        headers=FORM | HTML,
    )
    assert re.search(r'<p class="error" id="e-duration">[^<]+</p>', answer.text)
    assert "Save changes" in answer.text


async def test_the_signals_page_lists_signals_with_their_execution_and_filters(
    operator: httpx.AsyncClient, state: GatewayState
) -> None:
    strategy = uuid4()
    buy = await recorded_signal(state, strategy_id=strategy, action="BUY")
    hold = await recorded_signal(state, strategy_id=strategy, action="HOLD", rejected=True)
    await LedgerRepository(state.pool).record_outcome(ledger_outcome(buy, r=2))
    page = (await operator.get("/signals", headers=HTML)).text
    assert 'aria-current="page">Signals<' in page
    assert page.count('<a href="/executions/') == 2
    assert "target · 2R" in page, "the outcome that counts is shown"
    filtered = (await operator.get("/signals", params={"action": "HOLD", "period": "24h", "strategy_id": ""})).text
    assert "min_risk_reward" in filtered and filtered.count('<a href="/executions/') == 1
    assert buy != hold
    refused = await operator.get("/signals", params={"period": "forever"}, headers=HTML)
    assert refused.status_code == 422


async def test_the_check_of_a_form_without_name_or_symbol_yet_still_warns(operator: httpx.AsyncClient) -> None:
    answer = (await _post(operator, "/strategies/check", {"name": "", "risk.account_size": "5000"})).text
    assert '<p class="error" id="e-name" hx-swap-oob="true" hidden></p>' in answer
    assert "risk.account_size" in answer and 'id="next-runs"' in answer


async def test_the_new_pages_allow_only_this_origin_and_nothing_inline(operator: httpx.AsyncClient) -> None:
    await _post(operator, "/strategies", {"name": "csp", "symbol.symbol": "AAPL"})
    stored = (await operator.get("/api/strategies", headers={"Accept": "application/json"})).json()[0]
    for path in ("/signals", f"/strategies/{stored['id']}/edit"):
        response = await operator.get(path, headers=HTML)
        assert response.status_code == 200, path
        assert "script-src 'self';" in response.headers["content-security-policy"]
        assert "<script>" not in response.text and " style=" not in response.text and "<style" not in response.text


async def test_symbol_suggestions_are_empty_rather_than_an_error_when_search_cannot_answer(
    operator: httpx.AsyncClient,
) -> None:
    """No market-data service runs here, so the search has nobody to ask."""
    answer = await operator.get("/strategies/symbols", params={"symbol.symbol": "AAP"}, headers=HTML)
    assert answer.status_code == 200
    assert "<option" not in answer.text
