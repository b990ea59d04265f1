"""Performance by group: hit rate, R statistics, calibration, the interval of the mean R, and who is ranked."""

from __future__ import annotations

import statistics
from decimal import Decimal
from uuid import UUID, uuid4

import pytest

from tradelane.contracts.performance import (
    GroupBy,
    ScoredSignal,
    brier_score,
    calibration,
    group_of,
    mean_interval,
    performance,
)

STRATEGY = uuid4()
TEMPLATE = UUID("6f1d3c2a-0b7e-4c55-9a11-2f0e8d1c4b3a")


def scored(
    r: str | None = None,
    *,
    confidence: int = 70,
    model: str = "vision-1",
    action: str = "BUY",
    hit: bool | None = None,
    prompt_version: int | None = 3,
    cost: str | None = "0.01",
) -> ScoredSignal:
    """A signal with an outcome of ``r`` R (or, a HOLD, of ``hit``); none with neither."""
    judged = r is not None or hit is not None
    return ScoredSignal(
        signal_id=uuid4(),
        strategy_id=STRATEGY,
        strategy_name="btc",
        model=model,
        analyst="llm",
        prompt_template_id=TEMPLATE if prompt_version else None,
        prompt_name="swing" if prompt_version else None,
        prompt_version=prompt_version,
        action=action,
        confidence=confidence,
        tokens_in=1000,
        tokens_out=100,
        cost=Decimal(cost) if cost else None,
        hit=(Decimal(r) > 0) if r is not None else hit,
        r_multiple=Decimal(r) if r is not None else None,
        judged=judged,
    )


def test_a_group_has_hit_rate_r_statistics_expectancy_profit_factor_and_cost() -> None:
    signals = [scored("2"), scored("-1"), scored("3"), scored("-1"), scored(), scored(action="HOLD", hit=True)]
    [group] = performance(signals, GroupBy.MODEL, min_outcomes=4)
    assert (group.label, group.signals, group.outcomes, group.rank) == ("vision-1", 6, 4, 1)
    assert (group.hit_rate, group.mean_r, group.median_r, group.total_r) == (0.5, 0.75, 0.5, 3.0)
    assert group.expectancy_r == pytest.approx(0.5 * 2.5 - 0.5 * 1)
    assert group.profit_factor == 2.5
    assert (group.hold_outcomes, group.hold_accuracy) == (1, 1.0)
    assert (group.cost, group.cost_per_signal, group.cost_per_r) == (Decimal("0.06"), Decimal("0.01"), Decimal("0.02"))
    assert (group.tokens_in, group.tokens_out) == (6000, 600)


def test_a_group_with_too_few_outcomes_is_shown_with_its_interval_but_not_ranked() -> None:
    signals = [scored("1", model="small"), scored("2", model="small")] + [
        scored(r, model="big") for r in ("1", "-1", "0.5") * 4
    ]
    big, small = performance(signals, GroupBy.MODEL, min_outcomes=10)
    assert (big.label, big.rank, big.enough_outcomes) == ("big", 1, True)
    assert (small.label, small.rank, small.enough_outcomes, small.outcomes) == ("small", None, False, 2)
    assert small.mean_r_interval is not None


def test_groups_with_enough_outcomes_are_ranked_by_mean_r() -> None:
    signals = [scored(r, model="worse") for r in ("1", "-1") * 5] + [scored(r, model="better") for r in ("2", "-1") * 5]
    assert [(group.label, group.rank) for group in performance(signals, GroupBy.MODEL)] == [
        ("better", 1),
        ("worse", 2),
    ]


def test_calibration_counts_hits_per_confidence_bucket_and_the_brier_score_rewards_honest_confidence() -> None:
    signals = [
        scored("1", confidence=62),
        scored("-1", confidence=68),
        scored("1", confidence=91),
        scored("1", confidence=100),
    ]
    buckets = calibration(signals)
    assert [(b.low, b.high, b.outcomes, b.hit_rate) for b in buckets] == [(60, 69, 2, 0.5), (90, 100, 2, 1.0)]
    # (0.62-1)^2 + 0.68^2 + (0.91-1)^2 + 0 = 0.1444 + 0.4624 + 0.0081
    assert brier_score(signals) == pytest.approx((0.1444 + 0.4624 + 0.0081) / 4)
    assert brier_score([scored("1", confidence=50), scored("-1", confidence=50)]) == pytest.approx(0.25)


def test_the_interval_of_the_mean_r_holds_the_mean_is_the_same_every_time_and_narrows_with_more_outcomes() -> None:
    few = [2.0, -1.0, 3.0, -1.0, 0.5, -1.0, 1.5, -1.0]
    low, high = mean_interval(few) or (0.0, 0.0)
    assert low < statistics.fmean(few) < high
    assert mean_interval(few) == (low, high), "a fixed seed: the same outcomes give the same interval"
    many = few * 300  # 2,400 outcomes: the normal approximation
    many_low, many_high = mean_interval(many) or (0.0, 0.0)
    assert many_high - many_low < (high - low) / 5
    assert mean_interval([1.0]) is None


def test_prompt_versions_are_grouped_by_template_and_version_and_offline_signals_apart() -> None:
    offline = ScoredSignal(
        signal_id=uuid4(), strategy_id=STRATEGY, strategy_name="btc", model="offline-rules-v1", analyst="offline",
        prompt_template_id=None, prompt_name=None, prompt_version=None, action="BUY", confidence=60, tokens_in=0,
        tokens_out=0, cost=None,
    )  # fmt: skip
    assert group_of(scored(prompt_version=3), GroupBy.PROMPT_VERSION) == (f"{TEMPLATE}/3", "swing v3")
    assert group_of(scored(prompt_version=2), GroupBy.PROMPT_VERSION) == (f"{TEMPLATE}/2", "swing v2")
    assert group_of(offline, GroupBy.PROMPT_VERSION) == ("offline (no prompt)", "offline (no prompt)")
    assert group_of(offline, GroupBy.STRATEGY) == (str(STRATEGY), "btc")
    assert group_of(offline, GroupBy.ANALYST) == ("offline", "offline")
