"""Auto-trading end to end through every service process: signal -> paper order -> fill -> position, in the lineage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import httpx
import nats
import pytest

from tests.e2e.conftest import System
from tests.support.waiting import consistently, eventually
from tradelane.contracts import subjects
from tradelane.contracts.events import Action, Analysis, Signal, SignalGenerated
from tradelane.contracts.market import ResolvedSymbol
from tradelane.contracts.strategy import AssetType, StrategyDefinition
from tradelane.runtime.bus import event_headers
from tradelane.store.book.transactions import BookRepository
from tradelane.store.pool import create_pool

pytestmark = pytest.mark.e2e

BTC = {"symbol": "BTC", "exchange": "PAXOS", "currency": "USD", "asset_type": "CRYPTO"}


def _auto_trading(name: str) -> dict[str, Any]:
    """A crypto strategy (it trades at any hour) on 1-minute bars that trades its signals on paper."""
    return {
        "name": name,
        "symbol": BTC,
        "bar_size": "1 min",
        "duration": "1 D",
        "render_png": False,
        "schedule": {"cron": "0 0 1 1 *"},
        "risk": {"min_profit_margin": "0.001", "min_risk_reward": "1.0"},
        "auto_trade": True,
    }


def _signal(strategy_id: UUID, definition: dict[str, Any]) -> SignalGenerated:
    now = datetime.now(UTC)
    instrument = ResolvedSymbol(
        conid=910_012, symbol="BTC", exchange="PAXOS", currency="USD", asset_type=AssetType.CRYPTO, min_tick=0.01
    )
    return SignalGenerated(
        execution_id=uuid4(),
        strategy_id=strategy_id,
        strategy=StrategyDefinition.model_validate(definition),
        signal=Signal(
            action=Action.BUY,
            confidence=70,
            symbol=instrument,
            entry=Decimal(60_000),
            stop=Decimal(59_700),
            targets=(Decimal(60_600),),
            expires_at=now + timedelta(hours=1),
            model="e2e",
        ),
        analysis=Analysis(bias="bullish", trend="uptrend", confidence=70, model="e2e"),
    )


async def _market_at(system: System, instrument: ResolvedSymbol, price: Decimal) -> None:
    """The broker's mark, as a run's bars would have set it: a signal's own entry is never taken for the market."""
    pool = await create_pool(system.settings.database_url)
    try:
        await BookRepository(pool).upsert_instrument(instrument, price, datetime.now(UTC))
    finally:
        await pool.close()


async def publish_auto_trading_signal(
    client: httpx.AsyncClient, system: System, nats_options: dict[str, Any], name: str
) -> SignalGenerated:
    """A stored auto-trading strategy, the market priced, and its signal published as the signals service would."""
    definition = _auto_trading(name)
    created = await client.post("/api/strategies", json=definition)
    assert created.status_code == 201, created.text
    signal = _signal(UUID(created.json()["id"]), definition)
    await _market_at(system, signal.signal.symbol, Decimal(60_000))
    connection = await nats.connect(system.settings.nats_url, **nats_options)
    try:
        await connection.jetstream().publish(
            subjects.SIGNAL_GENERATED,
            signal.model_dump_json().encode(),
            headers=event_headers(signal),
            stream=subjects.PIPELINE_STREAM,
        )
    finally:
        await connection.close()
    return signal


async def position_changed(client: httpx.AsyncClient, signal: SignalGenerated) -> dict[str, Any]:
    """The signal's execution, with its step payloads, once the position change is in its lineage."""

    async def position_step() -> dict[str, Any] | None:
        response = await client.get(f"/api/executions/{signal.execution_id}", params={"payloads": "true"})
        if response.status_code != 200:
            return None
        body: dict[str, Any] = response.json()
        return body if any(step["step"] == "position_changed" for step in body["steps"]) else None

    execution: dict[str, Any] = await eventually(position_step, "the position change in the lineage", timeout=60)
    return execution


async def test_an_auto_trading_signal_becomes_a_paper_position_linked_in_its_execution(
    system: System, nats_options: dict[str, Any]
) -> None:
    async with system.client(timeout=10) as client:
        signal = await publish_auto_trading_signal(client, system, nats_options, "e2e-auto-trade")
        execution = await position_changed(client, signal)
        steps = {step["step"]: step for step in execution["steps"]}
        assert {"signal", "order_submitted", "order_accepted", "order_filled", "position_changed"} <= set(steps)
        filled = steps["order_filled"]
        assert filled["input"]["order"]["role"] == "entry"
        assert filled["input"]["client_ref"] == filled["output"]["client_ref"]
        assert steps["position_changed"]["input"]["message_id"] == steps["order_filled"]["output"]["message_id"]
        submitted = [step for step in execution["steps"] if step["step"] == "order_submitted"]
        assert {step["input"]["message_id"] for step in submitted} == {str(signal.message_id)}

        [position] = (await client.get("/api/positions")).json()
        assert Decimal(position["quantity"]) > 0
        portfolio = (await client.get("/api/portfolio")).json()
        assert (portfolio["venue"], portfolio["mode"], portfolio["open_positions"]) == ("paper", "paper", 1)
        orders = (await client.get("/api/orders")).json()
        assert sorted(order["role"] for order in orders) == ["entry", "stop_loss", "take_profit"]


async def test_an_auto_trading_run_places_orders_exactly_when_its_signal_is_a_buy_or_a_sell(system: System) -> None:
    async with system.client(timeout=10) as client:
        created = await client.post("/api/strategies", json=_auto_trading("e2e-auto-run"))
        run = await client.post(f"/api/strategies/{created.json()['id']}/run")
        execution_id = run.json()["execution_id"]

        async def finished() -> dict[str, Any] | None:
            body: dict[str, Any] = (
                await client.get(f"/api/executions/{execution_id}", params={"payloads": "true"})
            ).json()
            return body if body.get("status") not in {None, "running"} else None

        execution = await eventually(finished, "the run to finish", timeout=90)
        signal_step = next(step for step in execution["steps"] if step["step"] == "signal")
        action = (signal_step["output"].get("signal") or {}).get("action")
        if execution["status"] == "completed" and action in {"BUY", "SELL"}:

            async def traded() -> list[Any]:
                orders: list[Any] = (await client.get("/api/orders")).json()
                return [order for order in orders if order["execution_id"] == execution_id]

            orders = await eventually(traded, "the run's orders", timeout=60)
            [entry] = [order for order in orders if order["role"] == "entry"]
            assert entry["side"] == action
        else:

            async def no_orders() -> bool:
                return bool((await client.get("/api/orders")).json() == [])

            await consistently(no_orders, "no order for a run without a trade", seconds=2)
