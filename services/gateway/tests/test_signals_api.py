"""/api/signals: the signal steps the lineage recorded, filtered, newest first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import httpx

from tradelane.contracts import subjects
from tradelane.contracts.book import OrderRecord
from tradelane.contracts.market import ResolvedSymbol
from tradelane.contracts.strategy import AssetType
from tradelane.contracts.trading import OrderSide, OrderStatus, OrderTicket, OrderType, Venue, order_id
from tradelane.gateway.state import GatewayState
from tradelane.store.book.transactions import BookRepository
from tradelane.store.lineage import StepRecord

NOW = datetime.now(UTC)
AAPL = ResolvedSymbol(conid=265598, symbol="AAPL", exchange="NASDAQ", currency="USD", asset_type=AssetType.STOCK)


def _signal(action: str) -> dict[str, Any]:
    return {
        "action": action,
        "confidence": 70,
        "symbol": {"conid": 265598, "symbol": "AAPL", "exchange": "NASDAQ", "currency": "USD", "asset_type": "STK"},
        "entry": "190.5",
        "stop": "185",
        "targets": ["199"],
        "expires_at": (NOW + timedelta(hours=24)).isoformat(),
        "model": "offline",
    }


async def recorded_signal(
    state: GatewayState,
    *,
    action: str = "BUY",
    rejected: bool = False,
    strategy_id: UUID | None = None,
    occurred_at: datetime = NOW,
) -> UUID:
    """A finished execution whose signal step generated (or rejected) a signal; returns the signal's id."""
    signal_id = uuid4()
    payload: dict[str, Any] = {"strategy": {"name": "AAPL daily"}}
    if rejected:
        payload |= {"candidate": _signal(action), "rule": "min_risk_reward", "reason": "R 0.8 is below 1.5"}
    else:
        payload |= {"signal": _signal(action)}
    await state.lineage.record(
        StepRecord(
            execution_id=uuid4(),
            strategy_id=strategy_id or uuid4(),
            step="signal",
            message_id=signal_id,
            causation_id=None,
            subject=subjects.SIGNAL_REJECTED if rejected else subjects.SIGNAL_GENERATED,
            stream_sequence=1,
            status="rejected" if rejected else "succeeded",
            payload=payload,
            occurred_at=occurred_at,
            execution_status="rejected" if rejected else "completed",
            trigger="manual",
        )
    )
    return signal_id


async def test_signals_are_listed_newest_first_with_their_execution(
    client: httpx.AsyncClient, state: GatewayState
) -> None:
    older = await recorded_signal(state, occurred_at=NOW - timedelta(minutes=5))
    newer = await recorded_signal(state, action="SELL", rejected=True)
    response = await client.get("/api/signals")
    assert response.status_code == 200, response.text
    listed = response.json()
    assert [item["signal_id"] for item in listed] == [str(newer), str(older)]
    assert listed[0]["outcome"] == "rejected"
    assert listed[0]["rule"] == "min_risk_reward"
    assert listed[0]["signal"]["action"] == "SELL"
    assert listed[1]["outcome"] == "generated"
    assert listed[1]["strategy_name"] == "AAPL daily"
    assert listed[1]["order_id"] is None


async def test_signals_are_filtered_by_strategy_action_outcome_and_time(
    client: httpx.AsyncClient, state: GatewayState
) -> None:
    strategy = uuid4()
    wanted = await recorded_signal(state, strategy_id=strategy, action="BUY")
    await recorded_signal(state, strategy_id=strategy, action="HOLD")
    await recorded_signal(state, strategy_id=strategy, action="BUY", rejected=True)
    await recorded_signal(state, strategy_id=strategy, action="BUY", occurred_at=NOW - timedelta(days=2))
    await recorded_signal(state, action="BUY")
    response = await client.get(
        "/api/signals",
        params={
            "strategy_id": str(strategy),
            "action": "BUY",
            "outcome": "generated",
            "since": (NOW - timedelta(hours=1)).isoformat(),
            "until": (NOW + timedelta(hours=1)).isoformat(),
        },
    )
    assert [item["signal_id"] for item in response.json()] == [str(wanted)]


async def test_an_unknown_action_is_a_422_naming_it(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/signals", params={"action": "SHORT"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "action"]


async def test_a_signal_that_placed_an_order_links_to_it(client: httpx.AsyncClient, state: GatewayState) -> None:
    signal_id = await recorded_signal(state)
    await recorded_signal(state)
    book = BookRepository(state.pool)
    await book.open_account(Venue.PAPER, "paper", "", Decimal(100_000))
    ticket = OrderTicket(
        client_ref="tl-s-1", instrument=AAPL, side=OrderSide.BUY, order_type=OrderType.MARKET, quantity=Decimal(5)
    )
    order = OrderRecord(
        id=order_id("tl-s-1"),
        ticket=ticket,
        group_ref="tl-s-1",
        source="signal",
        venue=Venue.PAPER,
        execution_id=uuid4(),
        strategy_id=uuid4(),
        signal_id=signal_id,
        causation_id=None,
        status=OrderStatus.ACCEPTED,
    )
    async with book.transaction() as tx:
        assert await tx.insert_order(order)
    listed = {item["signal_id"]: item for item in (await client.get("/api/signals")).json()}
    assert listed[str(signal_id)]["order_id"] == str(order.id)
    assert listed[str(signal_id)]["order_status"] == "accepted"
    assert [item["order_id"] for key, item in listed.items() if key != str(signal_id)] == [None]
