"""One look of the runner at a backtest in a real PostgreSQL: what it publishes, when it stops, when it finishes.

The runner is given what publishes and what finishes (``publish_many``, ``finish``); here they record what they are
asked, so each test sees the runner's decisions look by look (``test_service`` runs them on real NATS).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Final
from uuid import UUID, uuid4

import asyncpg
import pytest

from tests.support.backtests import store_run
from tradelane.backtester.runner import Runner
from tradelane.contracts.backtest import BacktestRequest
from tradelane.contracts.events import ExecutionRequested
from tradelane.contracts.strategy import BarSize, StrategyDefinition, SymbolRef
from tradelane.runtime.bus import EncodedEvent
from tradelane.store.backtests import BacktestRepository

START: Final = datetime(2025, 3, 3, 15, tzinfo=UTC)
MAX_IN_FLIGHT: Final = 4
BUDGETED_IN_FLIGHT: Final = 2
DEFINITION: Final = StrategyDefinition(
    name="aapl-hourly", symbol=SymbolRef(symbol="AAPL"), bar_size=BarSize.HOUR_1, duration="30 D"
)


@dataclass
class Outside:
    """What the runner asked to publish and to finish."""

    published: list[ExecutionRequested] = field(default_factory=list)
    finished: list[UUID] = field(default_factory=list)

    async def publish_many(self, events: Sequence[EncodedEvent]) -> list[Exception | None]:
        self.published.extend(ExecutionRequested.model_validate_json(event.data) for event in events)
        return [None] * len(events)

    async def finish(self, backtest_id: UUID) -> None:
        self.finished.append(backtest_id)

    def decisions(self) -> list[tuple[str, int]]:
        return [(request.backtest.variant, request.backtest.seq) for request in self.published if request.backtest]


@pytest.fixture
def backtests(pool: asyncpg.Pool[Any]) -> BacktestRepository:
    return BacktestRepository(pool)


@pytest.fixture
def outside() -> Outside:
    return Outside()


@pytest.fixture
def runner(backtests: BacktestRepository, outside: Outside) -> Runner:
    return Runner(
        backtests,
        outside.publish_many,
        outside.finish,
        max_in_flight=MAX_IN_FLIGHT,
        budgeted_in_flight=BUDGETED_IN_FLIGHT,
        poll_seconds=60,
    )


@dataclass(frozen=True)
class Seeded:
    """A running backtest as stored, with the execution id of each decision, by (variant, seq)."""

    backtest_id: UUID
    strategy_id: UUID
    executions: dict[tuple[str, int], UUID]


async def _run(backtests: BacktestRepository, hours: int, budget_usd: Decimal | None = None) -> Seeded:
    """A running backtest of ``hours`` hourly decisions of ``base`` and of ``offline``."""
    request = BacktestRequest(
        strategy_id=uuid4(), start=START, end=START + timedelta(hours=hours), budget_usd=budget_usd
    )
    backtest_id = await store_run(backtests, request, decisions=hours, definition=DEFINITION)
    decisions = await backtests.decisions(backtest_id)
    return Seeded(backtest_id, request.strategy_id, {(d.variant, d.seq): d.execution_id for d in decisions})


async def _answer(backtests: BacktestRepository, execution_id: UUID, cost: str = "0") -> None:
    await backtests.record_analysis(execution_id, Decimal(cost), hits=0, misses=1)
    await backtests.record_signal(
        execution_id, action="HOLD", bias="neutral", confidence=50, rejected_rule=None, signal={}
    )


async def test_a_look_publishes_the_oldest_pending_decisions_until_max_in_flight_are_in_flight(
    runner: Runner, backtests: BacktestRepository, outside: Outside
) -> None:
    run = await _run(backtests, hours=3)
    await runner.advance(run.backtest_id)
    assert outside.decisions() == [("base", 0), ("offline", 0), ("base", 1), ("offline", 1)]
    assert {request.strategy_id for request in outside.published} == {run.strategy_id}

    await runner.advance(run.backtest_id)
    assert len(outside.published) == MAX_IN_FLIGHT

    await _answer(backtests, run.executions["base", 0])
    await runner.advance(run.backtest_id)
    assert outside.decisions()[MAX_IN_FLIGHT:] == [("base", 2)]


async def test_a_backtest_finishes_once_every_decision_is_answered_and_every_analysis_recorded(
    runner: Runner, backtests: BacktestRepository, outside: Outside
) -> None:
    """The signal and the analysis of a decision come on different consumers: the last analysis may come last."""
    run = await _run(backtests, hours=1)
    await runner.advance(run.backtest_id)
    base, offline = run.executions["base", 0], run.executions["offline", 0]
    await _answer(backtests, base)
    await backtests.record_signal(offline, action="HOLD", bias="neutral", confidence=50, rejected_rule=None, signal={})
    await runner.advance(run.backtest_id)
    assert outside.finished == []

    await backtests.record_analysis(offline, Decimal(0), hits=0, misses=0)
    await runner.advance(run.backtest_id)
    assert outside.finished == [run.backtest_id]


async def test_a_backtest_whose_model_cost_reaches_its_budget_stops_with_the_decisions_answered(
    runner: Runner, backtests: BacktestRepository, outside: Outside
) -> None:
    run = await _run(backtests, hours=3, budget_usd=Decimal("0.07"))
    await runner.advance(run.backtest_id)
    assert outside.decisions() == [("base", 0), ("offline", 0)], "a run with a budget keeps fewer in flight"
    await _answer(backtests, run.executions["base", 0], cost="0.03")
    await _answer(backtests, run.executions["offline", 0])
    await runner.advance(run.backtest_id)
    assert len(outside.published) == BUDGETED_IN_FLIGHT + 2  # $0.03 of $0.07: it goes on

    await _answer(backtests, run.executions["base", 1], cost="0.04")
    await runner.advance(run.backtest_id)
    summary = await backtests.summary(run.backtest_id)
    assert summary is not None
    assert (summary.status, summary.reason) == ("stopped", "budget of $0.07 reached after 3 decisions")
    assert len(outside.published) == BUDGETED_IN_FLIGHT + 2
