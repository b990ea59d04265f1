"""How a variant, or buy-and-hold, did over a backtest's period (pure functions).

An equity curve has one point per bar, the equity at that bar's close (stamped with the bar's
start, as bars are keyed), and ``initial_cash`` before the first bar. With ``e_0`` the initial
cash and ``e_1 .. e_n`` the points, the per-bar returns are ``r_i = e_i / e_(i-1) - 1`` (n of them),
and ``ppy`` is the number of bars in a year (:func:`periods_per_year`). Ratios are fractions.

* **total return** ``e_n / e_0 - 1``.
* **annual return** ``(1 + total) ** (ppy / n) - 1``: the total compounded to a year.
* **Sharpe** ``mean(r) / std(r, ddof=1) * sqrt(ppy)``, with a risk-free rate of 0.
* **Sortino** ``mean(r) / downside * sqrt(ppy)``, where the downside deviation is
  ``sqrt(mean(min(r, 0) ** 2))`` over all n returns (target 0).
* **max drawdown** the largest ``1 - e_i / max(e_0 .. e_i)``: a positive fraction, 0 when equity
  never fell below a peak.
* **Calmar** annual return / max drawdown.
* **hit rate** closed trades with a positive P&L / closed trades (closed: it has an exit).
* **profit factor** the closed trades' gross profit / gross loss.
* **exposure** the share of bars with a position open: given by the simulation, or derived from
  the trades' entry and exit times (:func:`exposure_of`).
* **trades** every trade, open ones included.
* **directional accuracy** the share of bullish or bearish decisions whose next decision's price
  moved their way (up for bullish, down for bearish; unchanged counts as wrong). Neutral
  decisions are not counted.

A metric that is undefined is None, never an infinity or NaN: no bars, fewer than two returns
(Sharpe, Sortino), returns without spread (Sharpe) or without a loss (Sortino), no drawdown
(Calmar), no closed trade (hit rate), no losing trade (profit factor), no directional decision,
and an annual return that overflows or whose total lost everything and more.

The statistics of a curve work on rows of returns (one curve per row), so the A/B bootstrap in
:mod:`tradelane.backtester.comparison` computes its resamples with exactly these definitions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal
from typing import Final, Literal, NamedTuple

import numpy as np
import numpy.typing as npt

from tradelane.contracts.backtest import BacktestMetrics, EquityPoint, SimulatedTrade
from tradelane.contracts.events import Bias
from tradelane.contracts.market import Bar
from tradelane.contracts.strategy import AssetType, BarSize
from tradelane.contracts.trading import OrderSide
from tradelane.trading.paper import PaperCosts

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

TRADING_DAYS: Final = 252
"""Trading days in a year for anything that keeps a weekday calendar (exchanges close on holidays)."""
CALENDAR_DAYS: Final = 365
"""Days in a year for crypto, which trades every day."""
US_SESSION: Final = (14 * 3600 + 30 * 60, 21 * 3600)
"""Regular US hours in seconds after midnight UTC, as the simulated market keeps them (14:30-21:00)."""
_SESSION_ASSETS: Final = frozenset({AssetType.STOCK, AssetType.ETF, AssetType.INDEX})
_DAY: Final = 86_400
_FLAT: Final = 1e-12
"""A spread of per-bar returns at or below this is no spread (constant equity has exactly 0)."""
_CENT: Final = Decimal("0.01")


class Direction(NamedTuple):
    """One decision's bias and the prices it is judged on: at the decision and at the next one."""

    bias: Bias
    price_at_decision: Decimal
    price_at_next_decision: Decimal

    @property
    def counted(self) -> bool:
        """Whether the decision took a side (neutral ones are not judged)."""
        return self.bias != "neutral"

    @property
    def agreed(self) -> bool:
        """Whether the price moved the bias's way by the next decision."""
        if self.bias == "bullish":
            return self.price_at_next_decision > self.price_at_decision
        if self.bias == "bearish":
            return self.price_at_next_decision < self.price_at_decision
        return False


@dataclass(frozen=True)
class MetricInfo:
    """How a metric is named, shown, and which way is better (None: neither)."""

    name: str
    label: str
    kind: Literal["percent", "ratio", "count", "money", "usd"]
    better: Literal["higher", "lower"] | None


METRICS: Final = (
    MetricInfo("total_return", "Total return", "percent", "higher"),
    MetricInfo("annual_return", "Annual return", "percent", "higher"),
    MetricInfo("sharpe", "Sharpe ratio", "ratio", "higher"),
    MetricInfo("sortino", "Sortino ratio", "ratio", "higher"),
    MetricInfo("max_drawdown", "Max drawdown", "percent", "lower"),
    MetricInfo("calmar", "Calmar ratio", "ratio", "higher"),
    MetricInfo("hit_rate", "Hit rate", "percent", "higher"),
    MetricInfo("profit_factor", "Profit factor", "ratio", "higher"),
    MetricInfo("exposure", "Exposure", "percent", None),
    MetricInfo("trades", "Trades", "count", None),
    MetricInfo("directional_accuracy", "Directional accuracy", "percent", "higher"),
    MetricInfo("fees", "Fees", "money", "lower"),
    MetricInfo("model_cost", "Model cost (USD)", "usd", "lower"),
)
"""Every field of BacktestMetrics, in the order a report shows them."""
METRIC_INFO: Final = {info.name: info for info in METRICS}


def periods_per_year(bar_size: BarSize, asset_type: AssetType) -> float:
    """Bars of ``bar_size`` in a year of ``asset_type``'s trading calendar.

    Stocks, ETFs and indices: 252 days of the regular session's bars (an hourly bar counts when
    it overlaps 14:30-21:00 UTC, so 7 a day, as the simulated market and IB's regular-hours bars
    have them). Forex and futures: 252 days of 24 hours. Crypto: 365 days of 24 hours. Weekly
    and monthly bars: 52 and 12 a year, whatever the instrument.
    """
    if bar_size is BarSize.WEEK_1:
        return 52.0
    if bar_size is BarSize.MONTH_1:
        return 12.0
    days = CALENDAR_DAYS if asset_type is AssetType.CRYPTO else TRADING_DAYS
    return float(days * _bars_per_day(bar_size, asset_type))


def _bars_per_day(bar_size: BarSize, asset_type: AssetType) -> int:
    size = bar_size.seconds
    if size >= _DAY:
        return 1
    if asset_type not in _SESSION_ASSETS:
        return _DAY // size
    session_open, session_close = US_SESSION
    return math.ceil(session_close / size) - session_open // size


# --- curve statistics, one curve per row of returns (NaN where undefined) ---------------------------


def per_bar_returns(initial_cash: Decimal, equity: Sequence[EquityPoint]) -> FloatArray:
    """The curve's n per-bar returns, the first against the initial cash (NaN after a bar at zero)."""
    values = np.array([float(initial_cash), *(float(point.equity) for point in equity)])
    with np.errstate(divide="ignore", invalid="ignore"):
        returns: FloatArray = values[1:] / values[:-1] - 1
    return np.where(np.isfinite(returns), returns, np.nan)


def annualised(total: FloatArray, bars: int, periods: float) -> FloatArray:
    """Total returns over ``bars`` bars, compounded to a year; NaN when it overflows or lost everything."""
    if bars == 0:
        return np.full(total.shape, np.nan)
    growth = 1 + total
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        annual: FloatArray = np.where(growth > 0, np.power(np.maximum(growth, 0), periods / bars) - 1, np.nan)
    return _finite_or_nan(annual)


def sharpe(returns: FloatArray, periods: float) -> FloatArray:
    """Per row: mean over sample standard deviation, scaled to a year."""
    if returns.shape[1] < 2:
        return np.full(returns.shape[0], np.nan)
    spread = returns.std(axis=1, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio: FloatArray = np.where(spread > _FLAT, returns.mean(axis=1) / spread * math.sqrt(periods), np.nan)
    return ratio


def sortino(returns: FloatArray, periods: float) -> FloatArray:
    """Per row: mean over downside deviation (target 0), scaled to a year."""
    if returns.shape[1] < 2:
        return np.full(returns.shape[0], np.nan)
    downside = np.sqrt(np.mean(np.minimum(returns, 0) ** 2, axis=1))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio: FloatArray = np.where(downside > _FLAT, returns.mean(axis=1) / downside * math.sqrt(periods), np.nan)
    return ratio


def growth_paths(returns: FloatArray) -> FloatArray:
    """Per row: equity over initial equity, starting with 1 before the first return."""
    ones = np.ones((returns.shape[0], 1))
    return np.concatenate([ones, np.cumprod(1 + returns, axis=1)], axis=1)


def drawdowns(paths: FloatArray) -> FloatArray:
    """Per row and point: how far below its running peak the path stands, as a positive fraction."""
    peaks = np.maximum.accumulate(paths, axis=1)
    fallen: FloatArray = 1 - paths / peaks
    return fallen


def max_drawdown(returns: FloatArray) -> FloatArray:
    """Per row: the largest drawdown of the path the returns make."""
    deepest: FloatArray = drawdowns(growth_paths(returns)).max(axis=1)
    return deepest


def calmar(annual: FloatArray, deepest: FloatArray) -> FloatArray:
    """Annual return over max drawdown; NaN without a drawdown."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio: FloatArray = np.where(deepest > 0, annual / deepest, np.nan)
    return _finite_or_nan(ratio)


def _finite_or_nan(values: FloatArray) -> FloatArray:
    return np.where(np.isfinite(values), values, np.nan)


def _optional(value: float | np.float64) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None


# --- trades and decisions ---------------------------------------------------------------------------


def hit_rate(pnls: Sequence[Decimal]) -> float | None:
    """Closed trades with a profit over closed trades."""
    if not pnls:
        return None
    return sum(1 for pnl in pnls if pnl > 0) / len(pnls)


def profit_factor(pnls: Sequence[Decimal]) -> float | None:
    """Gross profit over gross loss of the closed trades; None without a loss."""
    loss = -sum((pnl for pnl in pnls if pnl < 0), Decimal(0))
    if loss == 0:
        return None
    return float(sum((pnl for pnl in pnls if pnl > 0), Decimal(0)) / loss)


def closed_pnls(trades: Sequence[SimulatedTrade]) -> tuple[Decimal, ...]:
    """The P&L of every trade that has an exit."""
    return tuple(trade.pnl for trade in trades if trade.exit_at is not None)


def exposure_of(trades: Sequence[SimulatedTrade], times: Sequence[datetime]) -> float | None:
    """The share of bars (starting at ``times``, oldest first) during which a trade was open.

    A bar lasts until the next one starts (the last one without end); a trade is open during it
    when it entered before the bar ended and exited after the bar started, or entered in it.
    """
    if not times:
        return None
    ends: list[datetime | None] = [*times[1:], None]
    held = sum(
        1 for start, end in zip(times, ends, strict=True) if any(_open_during(trade, start, end) for trade in trades)
    )
    return held / len(times)


def _open_during(trade: SimulatedTrade, start: datetime, end: datetime | None) -> bool:
    entered_before_end = end is None or trade.entry_at < end
    entered_in_bar = start <= trade.entry_at and entered_before_end
    exited_after_start = trade.exit_at is None or trade.exit_at > start
    return entered_in_bar or (entered_before_end and exited_after_start)


def agreement(directions: Sequence[Direction]) -> tuple[BoolArray, BoolArray]:
    """Per decision: whether it is counted (took a side) and whether the price agreed with it."""
    counted = np.array([direction.counted for direction in directions], dtype=np.bool_)
    agreed = np.array([direction.agreed for direction in directions], dtype=np.bool_)
    return counted, agreed


def directional_accuracy(directions: Sequence[Direction]) -> float | None:
    """Share of counted decisions the next decision's price agreed with."""
    counted = [direction for direction in directions if direction.counted]
    if not counted:
        return None
    return sum(1 for direction in counted if direction.agreed) / len(counted)


# --- the metrics ------------------------------------------------------------------------------------


def variant_metrics(
    equity: Sequence[EquityPoint],
    trades: Sequence[SimulatedTrade],
    *,
    initial_cash: Decimal,
    periods_per_year: float,
    directions: Sequence[Direction],
    fees: Decimal,
    model_cost: Decimal | None,
    exposure: float | None = None,
) -> BacktestMetrics:
    """One variant's metrics from its equity curve (one point per bar), trades and decisions' directions.

    ``exposure`` is the share of bars with a position as the simulation counted it; None derives it
    from the trades' times (:func:`exposure_of`).
    """
    pnls = closed_pnls(trades)
    return _metrics(
        equity,
        initial_cash=initial_cash,
        periods=periods_per_year,
        pnls=pnls,
        trades=len(trades),
        exposure=exposure if exposure is not None else exposure_of(trades, [point.time for point in equity]),
        accuracy=directional_accuracy(directions),
        fees=fees,
        model_cost=model_cost,
    )


def _metrics(
    equity: Sequence[EquityPoint],
    *,
    initial_cash: Decimal,
    periods: float,
    pnls: Sequence[Decimal],
    trades: int,
    exposure: float | None,
    accuracy: float | None,
    fees: Decimal,
    model_cost: Decimal | None,
) -> BacktestMetrics:
    returns = per_bar_returns(initial_cash, equity)[np.newaxis, :]
    total = float(equity[-1].equity / initial_cash - 1) if equity and initial_cash > 0 else math.nan
    annual = annualised(np.array([total]), len(equity), periods)
    deepest = max_drawdown(returns) if equity else np.array([math.nan])
    return BacktestMetrics(
        total_return=_optional(total),
        annual_return=_optional(annual[0]),
        sharpe=_optional(sharpe(returns, periods)[0]),
        sortino=_optional(sortino(returns, periods)[0]),
        max_drawdown=_optional(deepest[0]),
        calmar=_optional(calmar(annual, deepest)[0]),
        hit_rate=hit_rate(pnls),
        profit_factor=profit_factor(pnls),
        exposure=exposure,
        trades=trades,
        directional_accuracy=accuracy,
        fees=fees,
        model_cost=model_cost,
    )


# --- buy-and-hold -----------------------------------------------------------------------------------


def buy_and_hold(
    bars: Sequence[Bar],
    *,
    start: datetime,
    initial_cash: Decimal,
    costs: PaperCosts,
    tick: Decimal,
    periods_per_year: float,
    quantity_step: Decimal,
) -> tuple[BacktestMetrics, tuple[EquityPoint, ...]]:
    """Buy with all the cash at the open of the first bar starting at or after ``start``, hold to the last close.

    The buy pays slippage (on the ``tick`` grid) and commission by the paper venue's rules, in whole
    ``quantity_step`` units (1 for shares, a fraction for crypto); the last point sells at the last
    close, paying them again, so the final equity is what the position was worth in cash. Every
    other bar's point marks the position at its close. Bars before ``start`` are ignored; one trade,
    exposed on every bar (none and no exposure when the cash buys no unit).
    """
    held = sorted((bar for bar in bars if bar.time >= start), key=lambda bar: bar.time)
    if not held:
        msg = f"no bar starts at or after {start.isoformat()}"
        raise ValueError(msg)
    buy_price = costs.slipped(_decimal(held[0].open), OrderSide.BUY, tick)
    quantity = _affordable(initial_cash, buy_price, costs, quantity_step)
    if quantity == 0:
        flat = tuple(EquityPoint(time=bar.time, equity=initial_cash) for bar in held)
        metrics = _metrics(
            flat,
            initial_cash=initial_cash,
            periods=periods_per_year,
            pnls=(),
            trades=0,
            exposure=0.0,
            accuracy=None,
            fees=Decimal(0),
            model_cost=Decimal(0),
        )
        return metrics, flat
    buy_fee = costs.commission(quantity, buy_price)
    cash = initial_cash - quantity * buy_price - buy_fee
    sell_price = costs.slipped(_decimal(held[-1].close), OrderSide.SELL, tick)
    sell_fee = costs.commission(quantity, sell_price)
    marks = [cash + quantity * _decimal(bar.close) for bar in held[:-1]]
    marks.append(cash + quantity * sell_price - sell_fee)
    equity = tuple(
        EquityPoint(time=bar.time, equity=mark.quantize(_CENT)) for bar, mark in zip(held, marks, strict=True)
    )
    metrics = _metrics(
        equity,
        initial_cash=initial_cash,
        periods=periods_per_year,
        pnls=(equity[-1].equity - initial_cash,),
        trades=1,
        exposure=1.0,
        accuracy=None,
        fees=buy_fee + sell_fee,
        model_cost=Decimal(0),
    )
    return metrics, equity


def _decimal(price: float) -> Decimal:
    return Decimal(str(price))


def _affordable(cash: Decimal, price: Decimal, costs: PaperCosts, step: Decimal) -> Decimal:
    """The most ``step`` units that ``cash`` pays for at ``price`` with their commission."""

    def floored(amount: Decimal) -> Decimal:
        return max(Decimal(0), (amount / step).to_integral_value(rounding=ROUND_FLOOR) * step)

    quantity = min(
        floored(cash / (price * (1 + costs.commission_rate))), floored((cash - costs.commission_minimum) / price)
    )
    while quantity > 0 and quantity * price + costs.commission(quantity, price) > cash:
        quantity -= step  # the commission's rounding to the cent: one step at most
    return quantity
