"""The A/B comparison: each metric of the second variant minus the first, with a bootstrap 95 % interval.

Both variants ran over the same bars and decisions, so the comparison is *paired*: a resample
draws one set of bar indices and applies it to both curves' per-bar returns, which keeps the
market's ups and downs common to both and leaves the difference the variants make.

Per-bar returns are autocorrelated (a position held over several bars), so the resamples are a
**circular block bootstrap** (Politis and Romano, 1992): blocks of ``round(sqrt(n))`` consecutive
bars, starting anywhere and wrapping round the end, joined until they cover n bars. Each
resample's statistics are computed with the definitions of :mod:`tradelane.backtester.metrics`
(total and annual return, Sharpe, Sortino, max drawdown, Calmar); the interval is the 2.5th and
97.5th percentile of the resampled differences (the percentile interval). Directional accuracy
is resampled the same way over the decisions, when both variants' directions are given.

Hit rate, profit factor, exposure, trades, fees and model cost are differences only (their low
and high are None): trades are too few, and their timing too tied to the bars, to resample
apart from the curve. The generator is seeded, so a comparison is the same every time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal
from typing import Final, Literal

import numpy as np
import numpy.typing as npt

from tradelane.backtester.metrics import (
    METRICS,
    BoolArray,
    Direction,
    FloatArray,
    agreement,
    annualised,
    calmar,
    growth_paths,
    max_drawdown,
    per_bar_returns,
    sharpe,
    sortino,
)
from tradelane.contracts.backtest import BacktestMetrics, MetricDifference, VariantResult

IntArray = npt.NDArray[np.int64]
Statistics = dict[str, FloatArray]

CONFIDENCE: Final = 0.95
_CELLS_PER_CHUNK: Final = 2_000_000
"""Resampled returns held in memory at once (16 MB of floats per curve)."""
_MIN_DEFINED: Final = 0.5
"""An interval needs at least this share of resamples where both variants' metric is defined."""
_CURVE_METRICS: Final = ("total_return", "annual_return", "sharpe", "sortino", "max_drawdown", "calmar")

Verdict = Literal["second_better", "first_better", "could_be_luck", "not_tested"]


def compare(
    first: VariantResult,
    second: VariantResult,
    *,
    initial_cash: Decimal,
    periods_per_year: float,
    directions: tuple[Sequence[Direction], Sequence[Direction]] | None = None,
    resamples: int = 2000,
    seed: int = 17,
) -> tuple[MetricDifference, ...]:
    """Every metric of ``second`` minus ``first``, in the order of ``METRICS``.

    ``directions`` are both variants' decisions, one per decision in the same order (a decision
    without a bias counts as neutral); without them directional accuracy has no interval.
    """
    times = [point.time for point in first.equity]
    if times != [point.time for point in second.equity]:
        msg = f"the variants compared must cover the same bars: {first.variant} and {second.variant} do not"
        raise ValueError(msg)
    rng = np.random.default_rng(seed)
    returns = (per_bar_returns(initial_cash, first.equity), per_bar_returns(initial_cash, second.equity))
    intervals = _curve_intervals(returns, periods_per_year, resamples, rng)
    if directions is not None:
        intervals["directional_accuracy"] = _accuracy_interval(directions, resamples, rng)
    return tuple(_difference(info.name, first.metrics, second.metrics, intervals.get(info.name)) for info in METRICS)


def verdict(difference: MetricDifference) -> Verdict:
    """Whether the interval says one variant is better, or includes 0 (the difference could be chance)."""
    better = next(info.better for info in METRICS if info.name == difference.metric)
    if better is None or difference.low is None or difference.high is None:
        return "not_tested"
    if difference.low <= 0 <= difference.high:
        return "could_be_luck"
    second_higher = difference.low > 0
    return "second_better" if second_higher == (better == "higher") else "first_better"


def _difference(
    name: str, first: BacktestMetrics, second: BacktestMetrics, interval: tuple[float, float] | None
) -> MetricDifference:
    one, two = _as_float(getattr(first, name)), _as_float(getattr(second, name))
    difference = None if one is None or two is None else two - one
    low, high = interval if interval is not None and difference is not None else (None, None)
    return MetricDifference(metric=name, first=one, second=two, difference=difference, low=low, high=high)


def _as_float(value: float | int | Decimal | None) -> float | None:
    return None if value is None else float(value)


def block_starts(n: int, resamples: int, rng: np.random.Generator) -> IntArray:
    """Where each resample's blocks start: ``resamples`` rows of ``ceil(n / block)`` starts in [0, n)."""
    blocks = math.ceil(n / block_length(n))
    starts: IntArray = rng.integers(0, n, size=(resamples, blocks), dtype=np.int64)
    return starts


def block_length(n: int) -> int:
    """Bars per block: about the square root of the series' length."""
    return max(1, round(math.sqrt(n)))


def block_indices(starts: IntArray, n: int) -> IntArray:
    """The resampled indices: each row's blocks laid end to end, wrapped round n, cut to n."""
    offsets = np.arange(block_length(n), dtype=np.int64)
    indices: IntArray = (starts[:, :, np.newaxis] + offsets) % n
    return indices.reshape(starts.shape[0], -1)[:, :n]


def _curve_intervals(
    returns: tuple[FloatArray, FloatArray], periods: float, resamples: int, rng: np.random.Generator
) -> dict[str, tuple[float, float] | None]:
    n = returns[0].size
    if n < 2 or resamples < 1:
        return {}
    starts = block_starts(n, resamples, rng)
    chunk = max(1, _CELLS_PER_CHUNK // n)
    parts: dict[str, list[FloatArray]] = {name: [] for name in _CURVE_METRICS}
    for offset in range(0, resamples, chunk):
        indices = block_indices(starts[offset : offset + chunk], n)
        first, second = (_curve_statistics(series[indices], periods) for series in returns)
        for name in _CURVE_METRICS:
            parts[name].append(second[name] - first[name])
    return {name: _percentile_interval(np.concatenate(parts[name])) for name in _CURVE_METRICS}


def _curve_statistics(returns: FloatArray, periods: float) -> Statistics:
    bars = returns.shape[1]
    total = growth_paths(returns)[:, -1] - 1
    annual = annualised(total, bars, periods)
    deepest = max_drawdown(returns)
    return {
        "total_return": total,
        "annual_return": annual,
        "sharpe": sharpe(returns, periods),
        "sortino": sortino(returns, periods),
        "max_drawdown": deepest,
        "calmar": calmar(annual, deepest),
    }


def _accuracy_interval(
    directions: tuple[Sequence[Direction], Sequence[Direction]], resamples: int, rng: np.random.Generator
) -> tuple[float, float] | None:
    first, second = directions
    if len(first) != len(second):
        msg = f"both variants need a direction per decision: got {len(first)} and {len(second)}"
        raise ValueError(msg)
    if not first or resamples < 1:
        return None
    indices = block_indices(block_starts(len(first), resamples, rng), len(first))
    one, two = (_resampled_accuracy(agreement(series), indices) for series in directions)
    return _percentile_interval(two - one)


def _resampled_accuracy(judged: tuple[BoolArray, BoolArray], indices: IntArray) -> FloatArray:
    counted, agreed = judged
    with np.errstate(divide="ignore", invalid="ignore"):
        accuracy: FloatArray = agreed[indices].sum(axis=1) / counted[indices].sum(axis=1)
    return accuracy


def _percentile_interval(differences: FloatArray) -> tuple[float, float] | None:
    defined = differences[np.isfinite(differences)]
    if defined.size == 0 or defined.size < _MIN_DEFINED * differences.size:
        return None
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(defined, [tail, 100 - tail])
    return float(low), float(high)
