"""Backtests in PostgreSQL: a run with its decisions, each answered once, summed into progress."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import uuid4

import asyncpg
import pytest

from tradelane.contracts.backtest import BacktestEstimate, BacktestRequest
from tradelane.contracts.strategy import Schedule
from tradelane.store.backtests import BacktestRepository, NewRun, PlannedDecision, RunState

START = datetime(2025, 3, 3, tzinfo=UTC)


@pytest.fixture
def backtests(pool: asyncpg.Pool[Any]) -> BacktestRepository:
    return BacktestRepository(pool)


async def _run(
    backtests: BacktestRepository,
    decisions: int = 3,
    strategies: dict[str, dict[str, Any]] | None = None,
    budget_usd: Decimal | None = None,
) -> tuple[NewRun, list[PlannedDecision]]:
    strategy_id = uuid4()
    request = BacktestRequest(
        strategy_id=strategy_id, start=START, end=START + timedelta(days=decisions), budget_usd=budget_usd
    )
    run = NewRun(
        id=uuid4(),
        name="demo month",
        strategy_id=strategy_id,
        strategy_name="demo",
        request=request,
        strategies=strategies or {"base": {"name": "demo"}},
        estimate=BacktestEstimate(
            decisions=decisions, variants=("base",), model_calls=0, cached_decisions=0, cost_usd=None
        ),
    )
    planned = [
        PlannedDecision("base", seq, START + timedelta(days=seq), uuid4(), f"fp-{run.id}-{seq}")
        for seq in range(decisions)
    ]
    await backtests.create(run, planned)
    return run, planned


async def test_decisions_wait_in_time_order_and_are_answered_once(backtests: BacktestRepository) -> None:
    run, planned = await _run(backtests)
    waiting = await backtests.waiting(run.id, limit=2)
    assert [decision.seq for decision in waiting] == [0, 1]
    await backtests.mark_published([decision.execution_id for decision in waiting])
    assert await backtests.in_flight(run.id) == 2

    first = planned[0].execution_id
    assert await backtests.record_analysis(first, Decimal("0.01"), hits=1, misses=2)
    assert not await backtests.record_analysis(first, Decimal("0.01"), hits=1, misses=2)
    signal = {"signal": {"action": "BUY"}}
    assert await backtests.record_signal(
        first, action="BUY", bias="bullish", confidence=70, rejected_rule=None, signal=signal
    )
    assert not await backtests.record_signal(
        first, action="SELL", bias="bearish", confidence=70, rejected_rule=None, signal=signal
    )
    assert await backtests.record_failure(planned[1].execution_id, "indicators: no bars")

    summary = await backtests.summary(run.id)
    assert summary is not None
    assert summary.status == "running"
    progress = summary.progress
    assert (progress.decisions_total, progress.decisions_done, progress.decisions_failed) == (3, 1, 1)
    assert (progress.cache_hits, progress.cache_misses, progress.cost_usd) == (1, 2, Decimal("0.01"))
    records = await backtests.decisions(run.id)
    assert [(record.seq, record.status, record.action) for record in records] == [
        (0, "done", "BUY"),
        (1, "failed", None),
        (2, "pending", None),
    ]
    assert await backtests.answered([planned[0].fingerprint, planned[1].fingerprint]) == {planned[0].fingerprint}


async def test_a_run_state_follows_the_decisions_from_pending_through_in_flight_to_answered(
    backtests: BacktestRepository,
) -> None:
    run, planned = await _run(backtests)
    first, second, third = (decision.execution_id for decision in planned)
    assert await backtests.run_state(run.id) == RunState(
        status="running", strategy_id=run.strategy_id, budget_usd=None, pending=True, in_flight=0, cost_usd=None
    )

    await backtests.mark_published([first, second])
    state = await backtests.run_state(run.id)
    assert state is not None
    assert (state.pending, state.in_flight, state.all_answered) == (True, 2, False)

    await backtests.record_analysis(first, Decimal("0.01"), hits=0, misses=1)
    await backtests.record_signal(first, action="HOLD", bias="neutral", confidence=50, rejected_rule=None, signal={})
    await backtests.record_failure(second, "indicators: no bars")
    state = await backtests.run_state(run.id)
    assert state is not None
    assert (state.pending, state.in_flight, state.all_answered) == (True, 0, False)

    await backtests.mark_published([third])
    state = await backtests.run_state(run.id)
    assert state is not None
    assert (state.pending, state.in_flight, state.all_answered) == (False, 1, False)

    await backtests.record_signal(third, action="BUY", bias="bullish", confidence=70, rejected_rule=None, signal={})
    state = await backtests.run_state(run.id)
    assert state is not None
    assert (state.pending, state.in_flight, state.all_answered) == (False, 0, True)
    assert state.cost_usd is None  # no budget: the cost recorded is not summed
    assert await backtests.decisions_answered(run.id) == 3


async def test_a_run_state_sums_the_model_cost_of_a_run_with_a_budget(backtests: BacktestRepository) -> None:
    run, planned = await _run(backtests, budget_usd=Decimal("0.07"))
    state = await backtests.run_state(run.id)
    assert state is not None
    assert (state.budget_usd, state.cost_usd) == (Decimal("0.07"), Decimal(0))

    await backtests.record_analysis(planned[0].execution_id, Decimal("0.01"), hits=0, misses=1)
    await backtests.record_analysis(planned[2].execution_id, Decimal("0.025"), hits=1, misses=1)
    state = await backtests.run_state(run.id)
    assert state is not None
    assert (state.budget_usd, state.cost_usd) == (Decimal("0.07"), Decimal("0.035"))
    assert await backtests.decisions_answered(run.id) == 0  # analysed, not answered: no signal yet


async def test_a_run_state_has_the_status_set_and_none_for_an_unknown_backtest(backtests: BacktestRepository) -> None:
    run, _ = await _run(backtests, decisions=1)
    await backtests.set_status(run.id, "stopped", "stopped by the user")
    state = await backtests.run_state(run.id)
    assert state is not None
    assert state.status == "stopped"
    assert await backtests.run_state(uuid4()) is None


async def test_status_and_listing(backtests: BacktestRepository) -> None:
    run, _ = await _run(backtests, decisions=1)
    assert run.id in await backtests.active()
    await backtests.set_status(run.id, "stopped", "stopped by the user")
    assert run.id not in await backtests.active()
    listed = await backtests.summaries(strategy_id=run.strategy_id)
    assert [(summary.id, summary.status, summary.reason) for summary in listed] == [
        (run.id, "stopped", "stopped by the user")
    ]
    assert listed[0].finished_at is not None
    assert await backtests.report_html(run.id) is None
    assert await backtests.result(run.id) is None


async def test_a_summary_carries_the_schedule_its_variants_ran(backtests: BacktestRepository) -> None:
    """Listed or looked up, a backtest says the schedule of the strategy it replayed (every variant shares it)."""
    schedule = {"cron": "0 16 * * 1-5", "timezone": "America/New_York"}
    run, _ = await _run(
        backtests,
        strategies={
            "prompt_version=2": {"name": "demo", "schedule": schedule},
            "prompt_version=3": {"name": "demo", "schedule": schedule},
        },
    )
    expected = Schedule.model_validate(schedule)
    summary = await backtests.summary(run.id)
    assert summary is not None
    assert summary.schedule == expected
    assert [listed.schedule for listed in await backtests.summaries(strategy_id=run.strategy_id)] == [expected]


async def test_a_summary_without_a_stored_schedule_has_none(backtests: BacktestRepository) -> None:
    run, _ = await _run(backtests, strategies={"base": {"name": "demo"}})
    summary = await backtests.summary(run.id)
    assert summary is not None
    assert summary.schedule is None


async def test_a_hold_the_rules_accepted_says_why_it_holds(backtests: BacktestRepository) -> None:
    """A HOLD's reason is the signal rules' note among its reasons (after the key factors, one of which starts the
    same way); a rejected candidate has its rule instead and no such reason."""
    run, planned = await _run(backtests, decisions=4)
    low, neutral, rejected, bare = (decision.execution_id for decision in planned)
    factors = ["HOLD: the model would wait for earnings", "Higher lows since Tuesday"]
    await backtests.record_signal(
        low,
        action="HOLD",
        bias="bullish",
        confidence=40,
        rejected_rule=None,
        signal={"signal": {"action": "HOLD", "reasons": [*factors, "HOLD: confidence 40 is below the minimum 60"]}},
    )
    await backtests.record_signal(
        neutral,
        action="HOLD",
        bias="neutral",
        confidence=50,
        rejected_rule=None,
        signal={"signal": {"action": "HOLD", "reasons": ["Range-bound", "HOLD: the analysis is neutral"]}},
    )
    await backtests.record_signal(
        rejected,
        action="BUY",
        bias="bullish",
        confidence=80,
        rejected_rule="min_risk_reward",
        signal={"candidate": {"action": "BUY", "reasons": factors}, "rule": "min_risk_reward"},
    )
    await backtests.record_signal(
        bare, action="HOLD", bias="neutral", confidence=50, rejected_rule=None, signal={"signal": {"action": "HOLD"}}
    )
    records = await backtests.decisions(run.id)
    assert [(record.action, record.rejected_rule, record.held_because) for record in records] == [
        ("HOLD", None, "confidence 40 is below the minimum 60"),
        ("HOLD", None, "the analysis is neutral"),
        ("BUY", "min_risk_reward", None),
        ("HOLD", None, None),
    ]
