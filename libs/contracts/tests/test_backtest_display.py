"""The display rules shared by the CLI, the web UI and the backtest report."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from uuid import uuid4

import pytest

from tradelane.contracts.backtest import (
    BacktestEstimate,
    BacktestMetrics,
    BacktestProgress,
    BacktestRequest,
    BacktestResult,
    BacktestSummary,
    MetricDifference,
    VariantResult,
)
from tradelane.contracts.backtest_display import (
    cadence_text,
    compared_labels,
    nice_step,
    seconds_left,
    step_decimals,
    value_axis,
)
from tradelane.contracts.strategy import Schedule

NOTHING = BacktestMetrics.model_validate(
    dict.fromkeys(BacktestMetrics.model_fields) | {"trades": 0, "fees": Decimal(0)}
)


def _result(*variants: str, compared: bool) -> BacktestResult:
    difference = MetricDifference(metric="trades", first=0, second=0, difference=0, low=None, high=None)
    return BacktestResult(
        variants=tuple(VariantResult(variant=name, metrics=NOTHING, trades=(), equity=()) for name in variants),
        buy_and_hold=NOTHING,
        comparison=(difference,) if compared else (),
    )


def test_round_tick_steps() -> None:
    assert nice_step(1000, 4) == 250 * 2
    assert nice_step(0.9, 4) == pytest.approx(0.5)
    assert nice_step(37, 4) == 10


def test_the_value_axis_holds_every_value_on_round_ticks() -> None:
    low, high, step = value_axis(100_030.0, 100_620.0, 5)
    assert (low, high, step) == (100_000.0, 100_800.0, 200.0)


def test_tick_labels_have_the_decimals_their_step_needs() -> None:
    assert [step_decimals(step) for step in (500.0, 1.0, 0.5, 0.02)] == [0, 0, 1, 2]


def test_the_compared_variants_are_named_in_the_results_order_without_the_offline_baseline() -> None:
    compared = _result("offline", "model=o3", "model=gpt-4o", compared=True)
    assert compared_labels(compared) == ("model=o3", "model=gpt-4o")
    assert compared_labels(_result("base", "offline", compared=False)) is None


def test_the_time_left_is_the_rest_at_the_pace_seen_since_watching() -> None:
    # 30 decisions finished in the 60 s since watching began (at 10 finished): 60 more take 120 s
    assert seconds_left(100, 40, (1000.0, 10), 1060.0) == pytest.approx(120.0)


def test_the_time_left_is_unknown_until_a_decision_finishes_and_none_once_all_have() -> None:
    assert seconds_left(100, 10, (1000.0, 10), 1060.0) is None
    assert seconds_left(100, 10, (1000.0, 0), 1000.0) is None
    assert seconds_left(100, 100, (1000.0, 100), 1000.0) == 0


def _backtest(cadence: str, schedule: Schedule | None) -> BacktestSummary:
    start = datetime(2026, 3, 2, tzinfo=UTC)
    return BacktestSummary(
        id=uuid4(),
        name="March",
        strategy_id=uuid4(),
        strategy_name="demo",
        request=BacktestRequest(strategy_id=uuid4(), start=start, end=start.replace(day=30), cadence=cadence),
        status="running",
        estimate=BacktestEstimate(decisions=0, variants=("base",), model_calls=0, cached_decisions=0, cost_usd=None),
        progress=BacktestProgress(
            decisions_total=0, decisions_done=0, decisions_failed=0, cache_hits=0, cache_misses=0, cost_usd=Decimal(0)
        ),
        created_at=start,
        schedule=schedule,
    )


NEW_YORK_CLOSE = Schedule(cron="0 16 * * 1-5", timezone="America/New_York")


def test_a_bar_cadence_decides_at_every_bar_close() -> None:
    assert cadence_text(_backtest("bar", NEW_YORK_CLOSE)) == "every bar's close"


def test_a_cron_cadence_says_the_strategy_schedule_it_replays() -> None:
    assert cadence_text(_backtest("cron", NEW_YORK_CLOSE)) == (
        "cron 0 16 * * 1-5 (America/New_York), the strategy's schedule"
    )


def test_a_cron_expression_cadence_is_read_in_the_strategy_time_zone() -> None:
    assert cadence_text(_backtest("30 15 * * 1-5", NEW_YORK_CLOSE)) == "cron 30 15 * * 1-5 (America/New_York)"


def test_without_a_known_schedule_the_cadence_says_what_it_does_not_know() -> None:
    assert cadence_text(_backtest("cron", None)) == "cron, the strategy's schedule"
    assert cadence_text(_backtest("30 15 * * 1-5", None)) == "cron 30 15 * * 1-5 (the strategy's time zone)"
