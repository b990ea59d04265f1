"""The gateway's trading routes against the real broker service, Postgres and NATS."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.support.http import refusal
from tests.support.waiting import eventually
from tradelane.contracts.envelope import utc_now
from tradelane.runtime.bus import EventBus
from tradelane.runtime.payloads import PayloadStore
from tradelane.runtime.service import Service
from tradelane.store.book.transactions import BookRepository

from .support import BTC, bar, bars_fetched

pytestmark = pytest.mark.usefixtures("broker_service")


def _order(**fields: Any) -> dict[str, Any]:
    """A manual order for 0.1 BTC at the market (BTC trades around the clock, so the hours rule passes)."""
    return {
        "instrument": {"symbol": "BTC", "exchange": "PAXOS", "asset_type": "CRYPTO", "conid": BTC.conid},
        "side": "BUY",
        "quantity": "0.1",
        **fields,
    }


def _locs(response: httpx.Response) -> list[list[str | int]]:
    assert response.status_code == 422, response.text
    return [item["loc"] for item in response.json()["detail"]]


@pytest.fixture
async def priced(repository: BookRepository) -> None:
    """BTC has a known price (as if a strategy on it had just run)."""
    await repository.upsert_instrument(BTC, Decimal(60_000), utc_now())


@pytest.mark.parametrize(
    ("fields", "location"),
    [
        ({"side": "HOLD"}, ["body", "side"]),
        ({"order_type": "MOC"}, ["body", "order_type"]),
        ({"quantity": "0"}, ["body", "quantity"]),
        ({"quantity": "lots"}, ["body", "quantity"]),
        ({"order_type": "LMT"}, ["body", "limit_price"]),
        ({"order_type": "LMT", "limit_price": "-5"}, ["body", "limit_price"]),
        ({"order_type": "STP"}, ["body", "stop_price"]),
        ({"order_type": "STP LMT", "stop_price": "61000"}, ["body", "limit_price"]),
        ({"limit_price": "60000"}, ["body", "limit_price"]),
        ({"tif": "FOK"}, ["body", "tif"]),
        ({"order_type": "STP", "stop_price": "61000", "tif": "IOC"}, ["body", "tif"]),
        ({"order_type": "LMT", "limit_price": "60000", "take_profit": "59000"}, ["body", "take_profit"]),
        ({"order_type": "LMT", "limit_price": "60000", "stop_loss": "61000"}, ["body", "stop_loss"]),
        ({"client_order_id": "has spaces"}, ["body", "client_order_id"]),
        ({"instrument": {"symbol": ""}}, ["body", "instrument", "symbol"]),
    ],
)
async def test_an_invalid_order_is_a_422_naming_the_field(
    gateway: httpx.AsyncClient, fields: dict[str, Any], location: list[str]
) -> None:
    assert location in _locs(await gateway.post("/api/orders", json=_order(**fields)))


async def test_an_instrument_the_broker_has_never_seen_is_a_422_on_instrument(gateway: httpx.AsyncClient) -> None:
    response = await gateway.post("/api/orders", json=_order(instrument={"symbol": "ZZZZ", "exchange": "SMART"}))
    assert _locs(response) == [["body", "instrument"]]
    assert "ZZZZ" in response.text


@pytest.mark.usefixtures("priced")
async def test_a_market_order_is_filled_and_opens_a_position(gateway: httpx.AsyncClient) -> None:
    response = await gateway.post("/api/orders", json=_order())
    assert response.status_code == 201, response.text
    [order] = response.json()["orders"]
    assert order["status"] == "filled"
    assert Decimal(order["average_price"]) == Decimal("60012")  # 2 bps of slippage

    detail = (await gateway.get(f"/api/orders/{order['id']}")).json()
    assert [Decimal(fill["quantity"]) for fill in detail["fills"]] == [Decimal("0.1")]
    [position] = (await gateway.get("/api/positions")).json()
    assert (position["symbol"], Decimal(position["quantity"])) == ("BTC", Decimal("0.1"))


@pytest.mark.usefixtures("priced")
async def test_the_portfolio_shows_cash_equity_pnl_and_the_mode(gateway: httpx.AsyncClient) -> None:
    await gateway.post("/api/orders", json=_order())
    portfolio = (await gateway.get("/api/portfolio")).json()
    assert (portfolio["venue"], portfolio["mode"]) == ("paper", "paper")
    assert Decimal(portfolio["cash"]) == Decimal(100_000) - Decimal("6001.2") - Decimal("1.20")  # 2 bps commission
    assert Decimal(portfolio["unrealized_pnl"]) == Decimal("-1.2")  # marked at 60,000, bought at 60,012
    assert Decimal(portfolio["realized_pnl"]) == Decimal("-1.20")  # the commission
    assert Decimal(portfolio["equity"]) == Decimal("99997.6")
    assert Decimal(portfolio["daily_pnl"]) == Decimal("-2.4")
    assert portfolio["open_positions"] == 1
    assert Decimal(portfolio["return_pct"]) == Decimal("-0.0024")


@pytest.mark.usefixtures("priced")
async def test_every_fill_leaves_a_snapshot(gateway: httpx.AsyncClient) -> None:
    before = utc_now()
    await gateway.post("/api/orders", json=_order())
    snapshots = (await gateway.get("/api/portfolio/snapshots", params={"since": before.isoformat()})).json()
    assert [snapshot["reason"] for snapshot in snapshots] == ["fill"]


@pytest.mark.usefixtures("priced")
async def test_the_same_client_order_id_never_places_a_second_order(gateway: httpx.AsyncClient) -> None:
    first = await gateway.post("/api/orders", json=_order(client_order_id="once"))
    second = await gateway.post("/api/orders", json=_order(client_order_id="once"))
    assert first.json()["orders"] == second.json()["orders"]
    assert len((await gateway.get("/api/orders")).json()) == 1


@pytest.mark.usefixtures("priced")
async def test_a_bracket_is_three_orders_in_one_oca_group(gateway: httpx.AsyncClient) -> None:
    response = await gateway.post(
        "/api/orders", json=_order(order_type="LMT", limit_price="60000", take_profit="61200", stop_loss="59400")
    )
    assert response.status_code == 201, response.text
    orders = response.json()["orders"]
    assert [order["role"] for order in orders] == ["entry", "take_profit", "stop_loss"]
    assert orders[1]["oca_group"] == orders[2]["oca_group"]


@pytest.mark.usefixtures("priced")
async def test_an_order_the_risk_engine_refuses_is_a_409_with_the_rule_and_kept(gateway: httpx.AsyncClient) -> None:
    response = await gateway.post("/api/orders", json=_order(quantity="1"))
    assert response.status_code == 409
    assert "max_position_notional" in response.json()["detail"]
    [kept] = (await gateway.get("/api/orders", params={"status": "rejected"})).json()
    assert kept["reject_rule"] == "max_position_notional"


@pytest.mark.usefixtures("priced")
@pytest.mark.usefixtures("priced")
async def test_a_working_order_can_be_cancelled_once(gateway: httpx.AsyncClient) -> None:
    placed = await gateway.post("/api/orders", json=_order(order_type="LMT", limit_price="58000", tif="GTC"))
    order_id = placed.json()["orders"][0]["id"]
    assert placed.json()["orders"][0]["status"] == "accepted"

    cancelled = await gateway.post(f"/api/orders/{order_id}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json() == {"outcome": "cancelled", "status": "cancelled"}
    again = await gateway.post(f"/api/orders/{order_id}/cancel")
    assert again.status_code == 409
    assert "already cancelled" in again.json()["detail"]


@pytest.mark.usefixtures("priced")
async def test_cancelling_a_filled_order_is_refused_not_reported_done(gateway: httpx.AsyncClient) -> None:
    placed = await gateway.post("/api/orders", json=_order())
    response = await gateway.post(f"/api/orders/{placed.json()['orders'][0]['id']}/cancel")
    assert response.status_code == 409
    assert "already filled" in response.json()["detail"]


async def test_an_unknown_order_is_a_404(gateway: httpx.AsyncClient) -> None:
    unknown = "6f0b3c3e-0000-4000-8000-000000000000"
    assert f"no order with id {unknown}" in refusal(await gateway.get(f"/api/orders/{unknown}"), 404)
    assert f"no order with id {unknown}" in refusal(await gateway.post(f"/api/orders/{unknown}/cancel"), 404)


async def test_risk_shows_the_state_the_limits_and_their_use(gateway: httpx.AsyncClient) -> None:
    risk = (await gateway.get("/api/risk")).json()
    assert risk["state"] == "ACTIVE"
    assert Decimal(risk["limits"]["risk_per_trade"]) == Decimal("0.02")
    assert risk["usage"]["open_positions"] == 0
    assert Decimal(risk["usage"]["equity"]) == Decimal(100_000)


async def test_invalid_limits_are_a_422_naming_the_field(gateway: httpx.AsyncClient) -> None:
    response = await gateway.put("/api/risk/limits", json={"risk_per_trade": "1.5", "max_open_positions": 0})
    assert sorted(_locs(response)) == [["body", "max_open_positions"], ["body", "risk_per_trade"]]


@pytest.mark.usefixtures("priced")
async def test_new_limits_apply_to_the_next_order(gateway: httpx.AsyncClient) -> None:
    put = await gateway.put("/api/risk/limits", json={"max_order_quantity": "0.05"})
    assert Decimal(put.json()["limits"]["max_order_quantity"]) == Decimal("0.05")
    response = await gateway.post("/api/orders", json=_order())
    assert response.status_code == 409
    assert "max_order_quantity" in response.json()["detail"]


@pytest.mark.usefixtures("priced")
async def test_the_kill_switch_halts_orders_until_resumed(gateway: httpx.AsyncClient) -> None:
    halted = await gateway.post("/api/risk/halt", json={"reason": "checking a data problem"})
    assert (halted.json()["state"], halted.json()["reason"]) == ("HALTED", "checking a data problem")
    refused = await gateway.post("/api/orders", json=_order())
    assert refused.status_code == 409
    assert "trading_halted" in refused.json()["detail"]

    resumed = await gateway.post("/api/risk/resume")
    assert resumed.json()["state"] == "ACTIVE"
    assert (await gateway.post("/api/orders", json=_order())).status_code == 201


@pytest.mark.usefixtures("priced")
@pytest.mark.usefixtures("priced")
async def test_the_kill_switch_can_cancel_every_working_order(gateway: httpx.AsyncClient) -> None:
    placed = await gateway.post("/api/orders", json=_order(order_type="LMT", limit_price="58000", tif="GTC"))
    halted = await gateway.post("/api/risk/halt", json={"reason": "flatten", "cancel_working_orders": True})
    assert [cancel["outcome"] for cancel in halted.json()["cancels"]] == ["cancelled"]
    order = (await gateway.get(f"/api/orders/{placed.json()['orders'][0]['id']}")).json()
    assert order["status"] == "cancelled"


async def test_a_halt_needs_a_reason(gateway: httpx.AsyncClient) -> None:
    assert _locs(await gateway.post("/api/risk/halt", json={})) == [["body", "reason"]]


async def test_reducing_is_a_state_to_resume_into(gateway: httpx.AsyncClient) -> None:
    response = await gateway.post("/api/risk/resume", json={"state": "REDUCING", "reason": "wind down"})
    assert response.json()["state"] == "REDUCING"
    assert _locs(await gateway.post("/api/risk/resume", json={"state": "HALTED"})) == [["body", "state"]]


@pytest.mark.usefixtures("priced")
async def test_a_resting_limit_order_fills_when_published_bars_reach_it(
    gateway: httpx.AsyncClient, broker_service: Service, bus: EventBus
) -> None:
    placed = await gateway.post("/api/orders", json=_order(order_type="LMT", limit_price="59000", tif="GTC"))
    order_id = placed.json()["orders"][0]["id"]

    # published as market-data would: the broker itself may not publish bars
    await bus.publish(await bars_fetched(PayloadStore(bus), (bar(utc_now(), 59500, 59600, 58900, 59100),)))

    path = f"/api/orders/{order_id}"
    order = await eventually(lambda: _when(gateway, path, lambda body: body["status"] == "filled"), "the order to fill")
    assert Decimal(order["average_price"]) == 59000


async def _when(client: httpx.AsyncClient, path: str, done: Callable[[dict[str, Any]], bool]) -> dict[str, Any] | None:
    """The body at ``path`` if ``done`` says it is what the test waits for."""
    body: dict[str, Any] = (await client.get(path)).json()
    return body if done(body) else None
