"""The backtest metrics: their definitions on hand-computed curves, and None wherever one is undefined."""

from __future__ import annotations

import math
import statistics
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tradelane.backtester.metrics import Direction, buy_and_hold, exposure_of, periods_per_year, variant_metrics
from tradelane.contracts.backtest import BacktestMetrics, EquityPoint, SimulatedTrade
from tradelane.contracts.market import Bar
from tradelane.contracts.strategy import AssetType, BarSize
from tradelane.trading.paper import PaperCosts

T0 = datetime(2024, 3, 4, 14, tzinfo=UTC)
HOUR = timedelta(hours=1)
CENT = Decimal("0.01")
FREE = PaperCosts(slippage_bps=Decimal(0), commission_rate=Decimal(0), commission_minimum=Decimal(0))


def curve(*values: str) -> tuple[EquityPoint, ...]:
    return tuple(EquityPoint(time=T0 + index * HOUR, equity=Decimal(value)) for index, value in enumerate(values))


def trade(pnl: str, *, entry: int = 0, exit_: int | None = 1) -> SimulatedTrade:
    return SimulatedTrade(
        decision_seq=entry,
        execution_id=uuid.uuid4(),
        side="long",
        quantity=Decimal(1),
        entry_at=T0 + entry * HOUR,
        entry_price=Decimal(100),
        exit_at=None if exit_ is None else T0 + exit_ * HOUR,
        exit_price=None if exit_ is None else Decimal(100) + Decimal(pnl),
        exit_reason=None if exit_ is None else "target",
        pnl=Decimal(pnl),
        fees=Decimal(0),
    )


def metrics_of(*values: str, trades: tuple[SimulatedTrade, ...] = (), periods: float = 3.0) -> BacktestMetrics:
    return variant_metrics(
        curve(*values),
        trades,
        initial_cash=Decimal(100),
        periods_per_year=periods,
        directions=(),
        fees=Decimal("1.5"),
        model_cost=None,
    )


def bar(hours: int, open_: float, close: float) -> Bar:
    return Bar(time=T0 + hours * HOUR, open=open_, high=max(open_, close), low=min(open_, close), close=close, volume=1)


@pytest.mark.parametrize(
    ("bar_size", "asset_type", "expected"),
    [
        (BarSize.HOUR_1, AssetType.STOCK, 252 * 7),
        (BarSize.MIN_30, AssetType.ETF, 252 * 13),
        (BarSize.MIN_1, AssetType.INDEX, 252 * 390),
        (BarSize.HOUR_4, AssetType.STOCK, 252 * 3),
        (BarSize.DAY_1, AssetType.STOCK, 252),
        (BarSize.HOUR_1, AssetType.FOREX, 252 * 24),
        (BarSize.MIN_15, AssetType.FUTURE, 252 * 96),
        (BarSize.HOUR_1, AssetType.CRYPTO, 365 * 24),
        (BarSize.DAY_1, AssetType.CRYPTO, 365),
        (BarSize.WEEK_1, AssetType.STOCK, 52),
        (BarSize.MONTH_1, AssetType.CRYPTO, 12),
    ],
)
def test_periods_per_year_follow_the_simulated_calendar(
    bar_size: BarSize, asset_type: AssetType, expected: int
) -> None:
    """Stock bars overlapping 14:30-21:00 UTC on 252 days; forex and futures 24 h on 252 days; crypto every day."""
    assert periods_per_year(bar_size, asset_type) == expected


def test_curve_metrics_follow_their_definitions() -> None:
    """100 -> 110 -> 99 -> 108.9: returns +10 %, -10 %, +10 %, three bars to the year."""
    returns = [0.1, -0.1, 0.1]
    metrics = metrics_of("110", "99", "108.9")
    assert metrics.total_return == pytest.approx(0.089)
    assert metrics.annual_return == pytest.approx(0.089)
    assert metrics.sharpe == pytest.approx(statistics.mean(returns) / statistics.stdev(returns) * math.sqrt(3))
    assert metrics.sortino == pytest.approx(statistics.mean(returns) / math.sqrt(0.01 / 3) * math.sqrt(3))
    assert metrics.max_drawdown == pytest.approx(0.1)
    assert metrics.calmar == pytest.approx(0.89)
    assert metrics.fees == Decimal("1.5")


def test_annual_return_compounds_the_total_to_a_year() -> None:
    """21 % over two bars of a four-bar year is 46.41 % a year."""
    assert metrics_of("110", "121", periods=4).annual_return == pytest.approx(1.21**2 - 1)


def test_drawdown_counts_from_the_initial_cash() -> None:
    """A curve that only falls has its drawdown measured from the cash it started with."""
    assert metrics_of("90", "80", "85").max_drawdown == pytest.approx(0.2)


def test_flat_equity_leaves_the_ratios_undefined() -> None:
    metrics = metrics_of("100", "100", "100")
    assert (metrics.total_return, metrics.annual_return, metrics.max_drawdown) == (0.0, 0.0, 0.0)
    assert (metrics.sharpe, metrics.sortino, metrics.calmar) == (None, None, None)
    assert (metrics.hit_rate, metrics.profit_factor, metrics.directional_accuracy) == (None, None, None)


def test_a_curve_without_a_loss_has_no_sortino_or_calmar() -> None:
    metrics = metrics_of("101", "103", "106")
    assert metrics.sharpe is not None
    assert (metrics.sortino, metrics.max_drawdown, metrics.calmar) == (None, 0.0, None)


def test_no_bars_leaves_every_curve_metric_undefined() -> None:
    metrics = metrics_of()
    assert metrics.model_dump(include={"total_return", "annual_return", "sharpe", "sortino", "max_drawdown"}) == {
        "total_return": None,
        "annual_return": None,
        "sharpe": None,
        "sortino": None,
        "max_drawdown": None,
    }


def test_an_annual_return_too_large_for_a_float_is_none() -> None:
    """Ten times the money in one minute bar compounds past any float over a year of minutes."""
    metrics = metrics_of("1000", periods=periods_per_year(BarSize.MIN_1, AssetType.CRYPTO))
    assert metrics.total_return == pytest.approx(9.0)
    assert metrics.annual_return is None
    assert metrics.calmar is None


def test_hit_rate_and_profit_factor_count_closed_trades_only() -> None:
    """Wins of 10 and 20 against a loss of 5; the open trade's marked loss is not counted, but it is a trade."""
    trades = (trade("10"), trade("-5"), trade("20"), trade("-100", exit_=None))
    metrics = metrics_of("110", "105", "125", trades=trades)
    assert metrics.hit_rate == pytest.approx(2 / 3)
    assert metrics.profit_factor == pytest.approx(6.0)
    assert metrics.trades == 4


def test_profit_factor_without_a_loss_is_none() -> None:
    metrics = metrics_of("110", "120", trades=(trade("10"), trade("10")))
    assert (metrics.hit_rate, metrics.profit_factor) == (1.0, None)


def test_directional_accuracy_judges_biased_decisions_against_the_next_price() -> None:
    """Right, wrong, not counted, right, and wrong (an unchanged price agrees with no bias): 2 of 4."""
    directions = (
        Direction("bullish", Decimal(100), Decimal(101)),
        Direction("bearish", Decimal(100), Decimal(101)),
        Direction("neutral", Decimal(100), Decimal(90)),
        Direction("bearish", Decimal(101), Decimal(99)),
        Direction("bullish", Decimal(99), Decimal(99)),
    )
    metrics = variant_metrics(
        curve("100"),
        (),
        initial_cash=Decimal(100),
        periods_per_year=252,
        directions=directions,
        fees=Decimal(0),
        model_cost=Decimal("0.25"),
    )
    assert metrics.directional_accuracy == 0.5
    assert metrics.model_cost == Decimal("0.25")


def test_exposure_is_derived_from_the_trades_when_not_given() -> None:
    """Held during bars 1 and 2 (exit at bar 3's start), and from bar 3 to the end: four of five bars."""
    times = [T0 + index * HOUR for index in range(5)]
    assert exposure_of((trade("1", entry=1, exit_=3),), times) == pytest.approx(2 / 5)
    assert exposure_of((trade("1", entry=1, exit_=3), trade("1", entry=3, exit_=None)), times) == pytest.approx(4 / 5)


def test_exposure_counts_a_trade_opened_and_closed_within_one_bar() -> None:
    within = trade("1", entry=1, exit_=1)
    assert exposure_of((within,), [T0 + index * HOUR for index in range(4)]) == pytest.approx(1 / 4)


def test_a_given_exposure_wins_over_the_derived_one() -> None:
    metrics = variant_metrics(
        curve("100", "101"),
        (trade("1"),),
        initial_cash=Decimal(100),
        periods_per_year=252,
        directions=(),
        fees=Decimal(0),
        model_cost=None,
        exposure=0.25,
    )
    assert metrics.exposure == 0.25


def test_buy_and_hold_without_costs_buys_whole_shares_and_marks_each_close() -> None:
    """1,000 buys 33 shares at 30 (10 left); they close at 31 and 35."""
    bars = (bar(0, 30, 31), bar(1, 31, 35))
    metrics, equity = buy_and_hold(
        bars, start=T0, initial_cash=Decimal(1000), costs=FREE, tick=CENT, periods_per_year=2, quantity_step=Decimal(1)
    )
    assert [point.equity for point in equity] == [Decimal("1033.00"), Decimal("1165.00")]
    assert [point.time for point in equity] == [T0, T0 + HOUR]
    assert metrics.total_return == pytest.approx(0.165)
    assert (metrics.trades, metrics.hit_rate, metrics.exposure, metrics.fees) == (1, 1.0, 1.0, Decimal(0))


def test_buy_and_hold_pays_slippage_and_commission_both_ways() -> None:
    """Bought 33 at 30.03 (10 bps) for 1 of commission (the minimum); sold at 35.96 (35.964 floored to the cent)
    for 1.19."""
    costs = PaperCosts(slippage_bps=Decimal(10), commission_rate=Decimal("0.001"), commission_minimum=Decimal(1))
    bars = (bar(0, 30, 31), bar(1, 31, 36))
    metrics, equity = buy_and_hold(
        bars, start=T0, initial_cash=Decimal(1000), costs=costs, tick=CENT, periods_per_year=2, quantity_step=Decimal(1)
    )
    cash_left = Decimal(1000) - 33 * Decimal("30.03") - 1
    assert equity[0].equity == (cash_left + 33 * 31).quantize(Decimal("0.01"))
    assert equity[-1].equity == Decimal("1193.50")
    assert metrics.fees == Decimal("2.19")


def test_buy_and_hold_starts_at_the_first_bar_at_or_after_start() -> None:
    bars = (bar(0, 50, 50), bar(1, 10, 10), bar(2, 10, 20))
    _, equity = buy_and_hold(
        bars,
        start=T0 + HOUR,
        initial_cash=Decimal(100),
        costs=FREE,
        tick=CENT,
        periods_per_year=2,
        quantity_step=Decimal(1),
    )
    assert [point.equity for point in equity] == [Decimal(100), Decimal(200)]


def test_buy_and_hold_buys_fractions_of_a_coin() -> None:
    bars = (bar(0, 60_000, 60_000), bar(1, 60_000, 66_000))
    metrics, equity = buy_and_hold(
        bars,
        start=T0,
        initial_cash=Decimal(1000),
        costs=FREE,
        tick=CENT,
        periods_per_year=2,
        quantity_step=Decimal("0.0001"),
    )
    assert equity[-1].equity == Decimal(1000) - Decimal("0.0166") * 60_000 + Decimal("0.0166") * 66_000
    assert metrics.total_return == pytest.approx(0.0996)


def test_buy_and_hold_with_too_little_cash_stays_in_cash() -> None:
    bars = (bar(0, 500, 510), bar(1, 510, 520))
    metrics, equity = buy_and_hold(
        bars, start=T0, initial_cash=Decimal(100), costs=FREE, tick=CENT, periods_per_year=2, quantity_step=Decimal(1)
    )
    assert [point.equity for point in equity] == [Decimal(100), Decimal(100)]
    assert (metrics.trades, metrics.exposure, metrics.total_return) == (0, 0.0, 0.0)


def test_buy_and_hold_needs_a_bar_after_start() -> None:
    with pytest.raises(ValueError, match="no bar starts at or after"):
        buy_and_hold(
            (bar(0, 10, 10),),
            start=T0 + HOUR,
            initial_cash=Decimal(100),
            costs=FREE,
            tick=CENT,
            periods_per_year=2,
            quantity_step=Decimal(1),
        )
