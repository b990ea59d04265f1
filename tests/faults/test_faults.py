"""Faults a running ``tradelane up`` meets, each under a burst of runs: it heals, loses nothing, doubles nothing.

One system serves every case of this module: simulated market data, the paper broker, and the
fake OpenAI-compatible server as its LLM endpoint (only the LLM case's strategy asks it; the
others name the offline analyst). The IB case needs market data from the fake TWS, so it has a
system of its own (``test_ib_faults``).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import nats
import pytest

from tests.faults.case import fault_case
from tests.faults.conftest import healthy_system, started_system
from tests.faults.report import FaultTable
from tests.faults.system import NATS, POSTGRES, UpSystem, process_tree
from tests.support.waiting import eventually
from tradelane.cli.services import SERVICES
from tradelane.contracts import subjects
from tradelane.contracts.events import Action, Analysis, Signal, SignalGenerated
from tradelane.contracts.market import ResolvedSymbol
from tradelane.contracts.strategy import AssetType, StrategyDefinition
from tradelane.runtime.bus import event_headers
from tradelane.runtime.bus_credentials import credentials_for, credentials_path
from tradelane.runtime.bus_permissions import OPERATOR
from tradelane.runtime.settings import Settings
from tradelane.store.book.transactions import BookRepository
from tradelane.store.pool import create_pool

sys.path.insert(0, str(Path(__file__).parents[2] / "services" / "llm-analyst" / "tests"))

from llm_analyst_tests.fake_llm import FakeLlmServer, Scripted, answer, failure

pytestmark = [pytest.mark.faults, pytest.mark.e2e, pytest.mark.timeout(420)]

LLM_TIMEOUT_SECONDS = 1
"""The llm-analyst's timeout: the fake answers at once, so a second is plenty, and each of the case's four
slow replies holds the analyst (one message at a time) for only that long."""
PAUSE_SECONDS = 30.0
"""How long PostgreSQL is unreachable in the outage case."""
BTC = {"symbol": "BTC", "exchange": "PAXOS", "currency": "USD", "asset_type": "CRYPTO"}
ETH = ResolvedSymbol(
    conid=910_013, symbol="ETH", exchange="PAXOS", currency="USD", asset_type=AssetType.CRYPTO, min_tick=0.01
)
MARK = Decimal(60_000)
ENTRY = MARK - 200
"""A BUY limit below the mark: the paper venue keeps it working until the market comes down to it."""


def _strategy(name: str, *, analyst: str = "offline", symbol: dict[str, str] | None = None) -> dict[str, Any]:
    """A crypto strategy on simulated 1-minute bars (it trades at any hour) that paper-trades its signals.

    No PNG: rendering one takes a Chromium about 0.4 s per run on two cores, which would make
    a 50-run burst last 25 s instead of 5 s; the chart step still runs (and can be killed).
    """
    return {
        "name": name,
        "symbol": symbol or BTC,
        "bar_size": "1 min",
        "duration": "1 D",
        "render_png": False,
        "schedule": {"cron": "0 0 1 1 *"},
        "risk": {"min_profit_margin": "0.001", "min_risk_reward": "1.0"},
        "analysis": {"analyst": analyst},
        "auto_trade": True,
    }


def reading(confidence: int) -> dict[str, Any]:
    """An analysis the LLM analyst accepts."""
    return {
        "bias": "neutral",
        "trend": "sideways",
        "confidence": confidence,
        "support": [],
        "resistance": [],
        "suggested_entry": None,
        "suggested_stop": None,
        "suggested_targets": [],
        "key_factors": ["fault suite"],
        "reasoning": "No edge on this chart.",
    }


@pytest.fixture(scope="module")
async def fake_llm() -> AsyncIterator[FakeLlmServer]:
    server = FakeLlmServer()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture(scope="module")
async def up_system(tmp_path_factory: pytest.TempPathFactory, fake_llm: FakeLlmServer) -> AsyncIterator[UpSystem]:
    env = {
        "TRADELANE_LLM_BASE_URL": fake_llm.base_url,
        "TRADELANE_LLM_API_KEY": "faults-key",
        "TRADELANE_LLM_MODEL": "faults-model",
        "TRADELANE_LLM_TIMEOUT": str(LLM_TIMEOUT_SECONDS),
    }
    async with started_system(tmp_path_factory, "faults", env) as system:
        yield system


@pytest.fixture(scope="module")
async def strategy_id(up_system: UpSystem) -> UUID:
    """The strategy every process-fault burst runs: every service has a part in each of its runs."""
    async with up_system.client() as client:
        created = await client.post("/api/strategies", json=_strategy("faults-burst"))
    assert created.status_code == 201, created.text
    return UUID(created.json()["id"])


@pytest.fixture
async def system(up_system: UpSystem) -> UpSystem:
    return await healthy_system(up_system)


def _kill(system: UpSystem, name: str, signum: int = signal.SIGKILL) -> None:
    os.kill(system.pid(name), signum)


async def _set_mark(system: UpSystem, instrument: ResolvedSymbol, price: Decimal) -> None:
    """The paper broker's mark of the instrument, as a run's bars would set it."""
    pool = await create_pool(system.database_url, min_size=1, max_size=1)
    try:
        await BookRepository(pool).upsert_instrument(instrument, price, datetime.now(UTC))
    finally:
        await pool.close()


async def _publish_signal(system: UpSystem, strategy_id: UUID, definition: dict[str, Any]) -> SignalGenerated:
    """A BUY signal on ETH below the mark, published as the signals service would (as the operator identity)."""
    now = datetime.now(UTC)
    signal_event = SignalGenerated(
        execution_id=uuid4(),
        strategy_id=strategy_id,
        strategy=StrategyDefinition.model_validate(definition),
        signal=Signal(
            action=Action.BUY,
            confidence=70,
            symbol=ETH,
            entry=ENTRY,
            stop=ENTRY - 300,
            targets=(ENTRY + 600,),
            expires_at=now + timedelta(hours=1),
            model="faults",
        ),
        analysis=Analysis(bias="bullish", trend="uptrend", confidence=70, model="faults"),
    )
    settings = Settings(nats_url=system.nats_url, nats_credentials_file=credentials_path(system.state_dir))
    credentials = credentials_for(settings, OPERATOR)
    assert credentials is not None
    connection = await nats.connect(system.nats_url, **credentials.connect_options())
    try:
        await connection.jetstream().publish(
            subjects.SIGNAL_GENERATED,
            signal_event.model_dump_json().encode(),
            headers=event_headers(signal_event),
            stream=subjects.PIPELINE_STREAM,
        )
    finally:
        await connection.close()
    return signal_event


async def _entry_orders(system: UpSystem, signal_id: UUID) -> list[asyncpg.Record]:
    async with system.database() as connection:
        return list(
            await connection.fetch(
                "SELECT client_ref, status, execution_id FROM broker.orders WHERE signal_id = $1 AND role = 'entry'",
                signal_id,
            )
        )


async def _eventually_entry_status(system: UpSystem, signal_id: UUID, wanted: str, seconds: float) -> None:
    async def entry_is_wanted() -> bool:
        orders = await _entry_orders(system, signal_id)
        return bool(orders) and all(order["status"] == wanted for order in orders)

    await eventually(entry_is_wanted, f"the signal's entry order to be {wanted}", timeout=seconds)


async def test_the_broker_killed_between_an_order_and_its_fill_places_no_second_order_and_reconciles_the_fill(
    system: UpSystem, strategy_id: UUID, fault_table: FaultTable
) -> None:
    """A BUY limit below the mark waits: the broker dies
    while it works, the market moves through the limit, and the restarted broker fills that one order once."""
    definition = _strategy(
        "faults-resting-order", symbol={"symbol": "ETH", "exchange": "PAXOS", "currency": "USD", "asset_type": "CRYPTO"}
    )
    async with system.client() as client:
        created = await client.post("/api/strategies", json=definition)
    assert created.status_code == 201, created.text
    await _set_mark(system, ETH, MARK)
    signal_event = await _publish_signal(system, UUID(created.json()["id"]), definition)
    await _eventually_entry_status(system, signal_event.message_id, "accepted", 30)

    async def kill_the_broker_then_move_the_market() -> None:
        _kill(system, "broker")
        await _set_mark(system, ETH, ENTRY - 100)

    await fault_case(
        system, fault_table, "kill -9 broker with an order working", strategy_id, kill_the_broker_then_move_the_market
    )
    await _eventually_entry_status(system, signal_event.message_id, "filled", 60)
    [entry] = await _entry_orders(system, signal_event.message_id)
    async with system.database() as connection:
        fills = await connection.fetchval(
            "SELECT count(*) FROM broker.fills WHERE client_ref = $1", entry["client_ref"]
        )
        filled_steps = await connection.fetchval(
            "SELECT count(*) FROM lineage.steps WHERE execution_id = $1 AND step = 'order_filled'",
            signal_event.execution_id,
        )
    assert (fills, filled_steps) == (1, 1)


@pytest.mark.parametrize("service", SERVICES)
async def test_kill_9_of_a_service_mid_burst(
    system: UpSystem, strategy_id: UUID, fault_table: FaultTable, service: str
) -> None:
    async def kill() -> None:
        _kill(system, service)

    await fault_case(system, fault_table, f"kill -9 {service}", strategy_id, kill)


async def test_kill_9_of_nats_mid_burst(system: UpSystem, strategy_id: UUID, fault_table: FaultTable) -> None:
    async def kill() -> None:
        _kill(system, NATS)

    await fault_case(system, fault_table, "kill -9 NATS", strategy_id, kill)


async def test_kill_9_of_postgres_mid_burst(system: UpSystem, strategy_id: UUID, fault_table: FaultTable) -> None:
    async def kill() -> None:
        _kill(system, POSTGRES)

    await fault_case(system, fault_table, "kill -9 PostgreSQL", strategy_id, kill)


async def test_postgres_unreachable_for_30_s_mid_burst(
    system: UpSystem, strategy_id: UUID, fault_table: FaultTable
) -> None:
    """The postmaster and every backend are stopped (SIGSTOP) for 30 s: connections hang, as behind a dead network."""

    async def pause() -> None:
        paused = process_tree(system.pid(POSTGRES))
        for pid in paused:
            os.kill(pid, signal.SIGSTOP)
        try:
            await asyncio.sleep(PAUSE_SECONDS)
        finally:
            for pid in paused:
                os.kill(pid, signal.SIGCONT)

    await fault_case(system, fault_table, f"PostgreSQL unreachable {PAUSE_SECONDS:.0f} s", strategy_id, pause)


async def test_sigterm_of_everything_mid_burst_then_a_restart(
    system: UpSystem, strategy_id: UUID, fault_table: FaultTable
) -> None:
    """``tradelane up`` is stopped as Ctrl-C or a service manager would, and started again on the same state."""

    async def stop_and_start() -> None:
        await system.terminate()
        await system.start()

    await fault_case(system, fault_table, "SIGTERM everything, restart", strategy_id, stop_and_start)


async def test_an_llm_endpoint_answering_429_then_timing_out_mid_burst(
    system: UpSystem, fake_llm: FakeLlmServer, fault_table: FaultTable
) -> None:
    async with system.client() as client:
        created = await client.post("/api/strategies", json=_strategy("faults-llm", analyst="llm"))
    assert created.status_code == 201, created.text
    fake_llm.script(*(answer(reading(40)) for _ in range(400)))
    throttled = failure(429, "rate limited", {"Retry-After": "1"})
    slow = Scripted(content="{}", delay=LLM_TIMEOUT_SECONDS * 3)

    async def throttle_then_hang() -> None:
        fake_llm.script_next(*([throttled] * 5), *([slow] * 4))

    await fault_case(system, fault_table, "LLM 429 then timeouts", UUID(created.json()["id"]), throttle_then_hang)
