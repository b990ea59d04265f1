"""/api/signals: the signals the ledger recorded, filtered, newest first, and one signal with its chain."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import httpx

from tradelane.contracts.book import OrderRecord
from tradelane.contracts.market import ResolvedSymbol
from tradelane.contracts.strategy import AssetType
from tradelane.contracts.trading import OrderSide, OrderStatus, OrderTicket, OrderType, Venue, order_id
from tradelane.gateway.state import GatewayState
from tradelane.store.book.transactions import BookRepository
from tradelane.store.ledger import LedgerRepository, LedgerSignal

NOW = datetime.now(UTC)
AAPL = ResolvedSymbol(conid=265598, symbol="AAPL", exchange="NASDAQ", currency="USD", asset_type=AssetType.STOCK)


def _signal(action: str, symbol: str) -> dict[str, Any]:
    return {
        "action": action,
        "confidence": 70,
        "symbol": {"conid": 265598, "symbol": symbol, "exchange": "NASDAQ", "currency": "USD", "asset_type": "STK"},
        "entry": "190.5",
        "stop": "185",
        "targets": ["199"],
        "expires_at": (NOW + timedelta(hours=24)).isoformat(),
        "model": "offline",
    }


ANALYSIS: dict[str, Any] = {"bias": "bullish", "trend": "uptrend", "confidence": 70, "model": "offline"}


async def recorded_signal(
    state: GatewayState,
    *,
    action: str = "BUY",
    rejected: bool = False,
    strategy_id: UUID | None = None,
    occurred_at: datetime = NOW,
    symbol: str = "AAPL",
    model: str = "offline",
    prompt: tuple[UUID, int] | None = None,
    execution_id: UUID | None = None,
) -> UUID:
    """A signal (or, ``rejected``, a candidate a rule refused) as the ledger service records it; returns its id."""
    signal_id = uuid4()
    await LedgerRepository(state.pool).record_signal(
        LedgerSignal(
            signal_id=signal_id,
            execution_id=execution_id or uuid4(),
            strategy_id=strategy_id or uuid4(),
            strategy_name="AAPL daily",
            strategy_version=2,
            replay_of=None,
            status="rejected" if rejected else "generated",
            rule="min_risk_reward" if rejected else None,
            reason="R 0.8 is below 1.5" if rejected else None,
            action=action,
            confidence=70,
            symbol=symbol,
            conid=265598,
            entry=Decimal("190.5"),
            stop=Decimal(185),
            first_target=Decimal(199),
            expires_at=NOW + timedelta(hours=24),
            signal=_signal(action, symbol),
            analysis=ANALYSIS,
            analyst="llm" if prompt else "offline",
            model=model,
            llm_provider=None,
            prompt_template_id=prompt[0] if prompt else None,
            prompt_name="swing" if prompt else None,
            prompt_version=prompt[1] if prompt else None,
            chart_sha256="c" * 64,
            tokens_in=1200,
            tokens_out=300,
            cost=Decimal("0.0042"),
            reference_price=Decimal("190.4"),
            reference_bar_time=occurred_at - timedelta(days=1),
            bar_size="1 day",
            atr=Decimal("2.5"),
            use_rth=True,
            what_to_show="TRADES",
            occurred_at=occurred_at,
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


async def test_signals_carry_their_provenance_and_are_filtered_by_symbol_model_and_prompt_version(
    client: httpx.AsyncClient, state: GatewayState
) -> None:
    template = uuid4()
    wanted = await recorded_signal(state, symbol="MSFT", model="vision-1", prompt=(template, 3))
    await recorded_signal(state, symbol="MSFT", model="vision-1", prompt=(template, 2))
    await recorded_signal(state, symbol="MSFT", model="vision-2", prompt=(template, 3))
    await recorded_signal(state, symbol="AAPL", model="vision-1", prompt=(template, 3))
    params = {"symbol": "MSFT", "model": "vision-1", "prompt_template_id": str(template), "prompt_version": "3"}
    [listed] = (await client.get("/api/signals", params=params)).json()
    assert listed["signal_id"] == str(wanted)
    assert listed["strategy_version"] == 2
    assert listed["provenance"] | {"prompt_template_id": None} == {
        "analyst": "llm",
        "model": "vision-1",
        "llm_provider": None,
        "prompt_template_id": None,
        "prompt_name": "swing",
        "prompt_version": 3,
        "chart_sha256": "c" * 64,
        "tokens_in": 1200,
        "tokens_out": 300,
        "cost": "0.0042",
        "reference_price": "190.4",
        "reference_bar_time": listed["provenance"]["reference_bar_time"],
        "bar_size": "1 day",
        "atr": "2.5",
    }
    assert listed["status"] == listed["outcome"] == "generated"


async def test_a_signal_is_shown_with_its_execution_and_analysis(
    client: httpx.AsyncClient, state: GatewayState
) -> None:
    execution_id = uuid4()
    signal_id = await recorded_signal(state, execution_id=execution_id)
    detail = (await client.get(f"/api/signals/{signal_id}")).json()
    assert (detail["signal_id"], detail["execution_id"]) == (str(signal_id), str(execution_id))
    assert detail["analysis"]["bias"] == "bullish"
    assert detail["execution"] is None, "no lineage was recorded for this execution"
    assert (detail["orders"], detail["positions"]) == ([], [])


async def test_an_unknown_signal_is_a_404_and_a_status_its_earlier_name_contradicts_a_422(
    client: httpx.AsyncClient,
) -> None:
    unknown = await client.get(f"/api/signals/{uuid4()}")
    assert unknown.status_code == 404
    assert "GET /api/signals" in unknown.json()["detail"]
    contradicted = await client.get("/api/signals", params={"status": "generated", "outcome": "rejected"})
    assert contradicted.status_code == 422
    assert "disagree" in contradicted.json()["detail"]
