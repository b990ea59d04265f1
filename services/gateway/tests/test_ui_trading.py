"""The orders, portfolio and risk pages in-process: nothing inline, scope-bound controls, errors at their fields.

The browser tests (tests/e2e/test_web_ui_trading.py) place, list and cancel a paper order and
draw the equity curve against the whole system; these check what needs no broker.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from fastapi import FastAPI

from services.gateway.tests.conftest import ApiToken, http_client
from tradelane.gateway.ui.equity_chart import HEIGHT, WIDTH, equity_chart
from tradelane.gateway.ui.live import Arrivals

HTML = {"Accept": "text/html,application/xhtml+xml"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
PAGES = ("/orders", "/orders?status=", "/orders?status=cancelled", "/portfolio", "/risk")


@pytest.fixture
async def browser(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with http_client(app) as client:
        yield client


async def _log_in(browser: httpx.AsyncClient, token: str) -> dict[str, str]:
    response = await browser.post("/api/session", json={"token": token})
    assert response.status_code == 200, response.text
    return {"X-CSRF-Token": response.json()["csrf_token"]}


async def test_the_trading_pages_load_nothing_inline(browser: httpx.AsyncClient, api_token: ApiToken) -> None:
    await _log_in(browser, await api_token("admin"))
    for path in PAGES:
        response = await browser.get(path, headers=HTML)
        assert response.status_code == 200, (path, response.text)
        assert "style-src 'self';" in response.headers["content-security-policy"]
        assert "<script>" not in response.text and "<style" not in response.text and " style=" not in response.text


async def test_a_read_token_sees_the_trading_pages_without_their_controls(
    browser: httpx.AsyncClient, api_token: ApiToken
) -> None:
    await _log_in(browser, await api_token("read", name="reader"))
    orders = (await browser.get("/orders", headers=HTML)).text
    assert 'id="order-form"' not in orders and "hx-post" not in orders
    risk = (await browser.get("/risk", headers=HTML)).text
    assert 'id="save-limits"' not in risk and "<fieldset disabled>" in risk
    assert 'id="halt"' not in risk


async def test_the_order_form_shows_the_models_errors_at_their_fields(
    browser: httpx.AsyncClient, api_token: ApiToken
) -> None:
    csrf = await _log_in(browser, await api_token("trade"))
    form = "instrument.symbol=AAPL&side=BUY&order_type=LMT&quantity=-1&tif=DAY&client_order_id=form-1"
    answer = await browser.post("/orders", content=form, headers=csrf | FORM)
    assert answer.status_code == 200
    for field in ("limit_price", "quantity"):
        assert re.search(rf'<p class="error" id="e-{field}">[^<]+</p>', answer.text), field
    assert 'name="client_order_id" value="form-1"' in answer.text  # nothing was placed: the same key again
    assert 'id="order-lists" hx-swap-oob="true"' in answer.text


async def test_every_request_that_redraws_the_order_lists_keeps_the_status_filter(
    browser: httpx.AsyncClient, api_token: ApiToken
) -> None:
    """The live refresh, the order form and the cancel buttons draw the lists again: with the history asked for."""
    await _log_in(browser, await api_token("trade"))
    page = (await browser.get("/orders?status=cancelled", headers=HTML)).text
    assert 'sse-connect="/orders/stream"' in page
    assert 'id="order-tables" hx-get="/orders/tables?status=cancelled" hx-trigger="sse:orders"' in page
    assert 'hx-post="/orders?status=cancelled"' in page
    refreshed = (await browser.get("/orders/tables?status=cancelled", headers=HTML)).text
    assert refreshed.count('id="order-tables"') == 1 and "Orders cancelled" in refreshed
    unfiltered = (await browser.get("/orders/tables?status=", headers=HTML)).text
    assert 'hx-get="/orders/tables"' in unfiltered and "All orders" in unfiltered


async def test_a_burst_of_bus_messages_is_one_change_and_the_callback_never_waits() -> None:
    arrivals = Arrivals()
    for _ in range(1000):
        await asyncio.wait_for(arrivals.receive(None), timeout=0.1)  # type: ignore[arg-type]  # the message is not read
    assert arrivals.signal.is_set()
    assert arrivals.take() == 1000
    assert not arrivals.signal.is_set() and arrivals.take() == 0


async def test_the_limits_form_refuses_a_limit_at_its_field_and_saves_a_good_one(
    browser: httpx.AsyncClient, api_token: ApiToken
) -> None:
    csrf = await _log_in(browser, await api_token("trade"))
    page = (await browser.get("/risk", headers=HTML)).text
    values = dict(re.findall(r'name="([a-z_]+)" type="text" value="([^"]*)"', page))
    assert values["max_open_positions"] == "5"
    too_many = httpx.QueryParams({**values, "max_open_positions": "1000"})
    refused = await browser.put("/risk/limits", content=str(too_many), headers=csrf | FORM)
    assert re.search(r'<p class="error" id="e-max_open_positions">[^<]*ceiling[^<]*</p>', refused.text)
    saved = await browser.put(
        "/risk/limits", content=str(httpx.QueryParams({**values, "max_open_positions": "7"})), headers=csrf | FORM
    )
    assert 'id="limits-saved"' in saved.text and 'value="7"' in saved.text
    assert 'id="risk-usage" class="card" aria-labelledby="usage-title" hx-swap-oob="true"' in saved.text
    limits = (await browser.get("/api/risk", headers={"Accept": "application/json"})).json()["limits"]
    assert limits["max_open_positions"] == 7 and limits["enforce_trading_hours"] is False  # unchecked box


def test_the_equity_curve_spans_the_plot_and_labels_round_values() -> None:
    start = datetime(2026, 12, 5, 9, tzinfo=UTC)
    points = [(start + timedelta(hours=hour), Decimal(100_000 + 150 * hour)) for hour in range(5)]
    chart = equity_chart(points)
    assert chart is not None
    xs = [float(pair.split(",")[0]) for pair in chart.points.split()]
    ys = [float(pair.split(",")[1]) for pair in chart.points.split()]
    assert xs[0] == chart.left and xs[-1] == chart.right and xs == sorted(xs)
    assert ys == sorted(ys, reverse=True)  # rising equity goes up the screen
    assert all(chart.top <= y <= chart.bottom for y in ys)
    assert [tick.label for tick in chart.value_ticks] == ["100,000", "100,200", "100,400", "100,600"]
    assert (chart.time_ticks[0].label, chart.time_ticks[-1].label) == ("09:00", "13:00")
    assert (chart.width, chart.height) == (WIDTH, HEIGHT)


def test_a_single_or_flat_snapshot_still_draws_and_none_draws_nothing() -> None:
    assert equity_chart([]) is None
    only = equity_chart([(datetime(2026, 12, 5, tzinfo=UTC), Decimal(100_000))])
    assert only is not None and len(only.value_ticks) >= 2
