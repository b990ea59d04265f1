"""The A/B comparison: paired block-bootstrap intervals of each metric's difference."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest

from tradelane.backtester.comparison import block_indices, block_starts, compare, verdict
from tradelane.backtester.metrics import METRICS, Direction, variant_metrics
from tradelane.contracts.backtest import EquityPoint, MetricDifference, VariantResult

T0 = datetime(2024, 1, 2, tzinfo=UTC)
CASH = Decimal(10_000)
PERIODS = 252.0
INTERVAL_METRICS = ("total_return", "annual_return", "sharpe", "sortino", "max_drawdown", "calmar")


def variant(name: str, returns: np.typing.NDArray[np.float64], directions: tuple[Direction, ...] = ()) -> VariantResult:
    values = float(CASH) * np.cumprod(1 + returns)
    equity = tuple(
        EquityPoint(time=T0 + timedelta(days=index), equity=Decimal(f"{value:.2f}"))
        for index, value in enumerate(values)
    )
    metrics = variant_metrics(
        equity,
        (),
        initial_cash=CASH,
        periods_per_year=PERIODS,
        directions=directions,
        fees=Decimal(0),
        model_cost=None,
    )
    return VariantResult(variant=name, metrics=metrics, trades=(), equity=equity)


def market(seed: int = 1, bars: int = 250) -> np.typing.NDArray[np.float64]:
    returns: np.typing.NDArray[np.float64] = np.random.default_rng(seed).normal(0.0002, 0.01, bars)
    return returns


def by_metric(differences: tuple[MetricDifference, ...]) -> dict[str, MetricDifference]:
    return {difference.metric: difference for difference in differences}


def test_identical_variants_differ_by_zero_with_a_zero_interval() -> None:
    returns = market()
    differences = by_metric(
        compare(variant("a", returns), variant("b", returns), initial_cash=CASH, periods_per_year=PERIODS)
    )
    for name in INTERVAL_METRICS:
        assert (differences[name].difference, differences[name].low, differences[name].high) == (0.0, 0.0, 0.0)
        assert verdict(differences[name]) == "could_be_luck"


def test_every_metric_is_reported_in_order() -> None:
    returns = market()
    differences = compare(variant("a", returns), variant("b", returns), initial_cash=CASH, periods_per_year=PERIODS)
    assert [difference.metric for difference in differences] == [info.name for info in METRICS]


def test_a_clearly_better_curve_has_an_interval_that_excludes_zero() -> None:
    """The same market plus 0.3 % a bar: the second variant's return and Sharpe are higher beyond doubt."""
    returns = market()
    differences = by_metric(
        compare(variant("a", returns), variant("b", returns + 0.003), initial_cash=CASH, periods_per_year=PERIODS)
    )
    for name in ("total_return", "sharpe"):
        low, high = differences[name].low, differences[name].high
        assert low is not None
        assert high is not None
        assert 0 < low <= high
        assert verdict(differences[name]) == "second_better"


def test_a_lower_drawdown_makes_the_second_better() -> None:
    """Max drawdown is better lower: a first variant that loses steadily has the deeper one."""
    returns = market()
    differences = by_metric(
        compare(variant("a", returns - 0.003), variant("b", returns), initial_cash=CASH, periods_per_year=PERIODS)
    )
    high = differences["max_drawdown"].high
    assert high is not None
    assert high < 0
    assert verdict(differences["max_drawdown"]) == "second_better"


def test_unrelated_noise_could_be_luck() -> None:
    """Two draws of the same market model: the difference in Sharpe is luck."""
    first, second = variant("a", market(seed=1)), variant("b", market(seed=2))
    assert verdict(by_metric(compare(first, second, initial_cash=CASH, periods_per_year=PERIODS))["sharpe"]) == (
        "could_be_luck"
    )


def test_the_comparison_is_the_same_for_the_same_seed() -> None:
    first, second = variant("a", market(seed=1)), variant("b", market(seed=2))
    once = compare(first, second, initial_cash=CASH, periods_per_year=PERIODS, resamples=300, seed=5)
    again = compare(first, second, initial_cash=CASH, periods_per_year=PERIODS, resamples=300, seed=5)
    other = compare(first, second, initial_cash=CASH, periods_per_year=PERIODS, resamples=300, seed=6)
    assert once == again
    assert once != other


def test_trade_metrics_differ_without_an_interval() -> None:
    returns = market()
    differences = by_metric(
        compare(variant("a", returns), variant("b", returns + 0.001), initial_cash=CASH, periods_per_year=PERIODS)
    )
    for name in ("hit_rate", "profit_factor", "trades", "exposure", "fees"):
        assert (differences[name].low, differences[name].high) == (None, None)
        assert verdict(differences[name]) == "not_tested"
    assert differences["trades"].difference == 0.0


def test_directional_accuracy_is_resampled_over_the_decisions() -> None:
    """Always right against right one time in two, over 200 decisions: the interval lies above 0."""
    up = Direction("bullish", Decimal(100), Decimal(101))
    down = Direction("bearish", Decimal(100), Decimal(101))
    right = (up,) * 200
    half = (up, down) * 100
    returns = market()
    first, second = variant("a", returns, half), variant("b", returns, right)
    plain = by_metric(compare(first, second, initial_cash=CASH, periods_per_year=PERIODS))
    assert plain["directional_accuracy"].difference == pytest.approx(0.5)
    assert plain["directional_accuracy"].low is None
    paired = by_metric(compare(first, second, initial_cash=CASH, periods_per_year=PERIODS, directions=(half, right)))
    low = paired["directional_accuracy"].low
    assert low is not None
    assert low > 0


def test_variants_over_different_bars_are_refused() -> None:
    with pytest.raises(ValueError, match="same bars"):
        compare(
            variant("a", market(bars=10)), variant("b", market(bars=11)), initial_cash=CASH, periods_per_year=PERIODS
        )


def test_directions_must_pair_up() -> None:
    up = Direction("bullish", Decimal(1), Decimal(2))
    returns = market()
    with pytest.raises(ValueError, match="a direction per decision"):
        compare(
            variant("a", returns),
            variant("b", returns),
            initial_cash=CASH,
            periods_per_year=PERIODS,
            directions=((up,), (up, up)),
        )


def test_one_bar_has_no_interval() -> None:
    differences = by_metric(
        compare(
            variant("a", market(bars=1)), variant("b", market(bars=1) + 0.01), initial_cash=CASH, periods_per_year=1
        )
    )
    assert differences["total_return"].difference == pytest.approx(0.01, abs=1e-6)
    assert differences["total_return"].low is None


def test_blocks_are_consecutive_bars_wrapping_round_the_end() -> None:
    """Ten bars make blocks of three (about sqrt(10)); a block starting at bar 8 continues with 9 and 0."""
    starts = np.array([[8, 0, 4, 2]], dtype=np.int64)
    assert block_indices(starts, 10).tolist() == [[8, 9, 0, 0, 1, 2, 4, 5, 6, 2]]
    assert block_starts(10, 7, np.random.default_rng(0)).shape == (7, 4)
