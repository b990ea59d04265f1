"""Indicator series and pattern hits computed from bars with TA-Lib, and the market snapshot.

Pure functions: bars and indicator specs in, aligned series out. Bad input that no retry can
fix (too few bars for a period, an unknown pattern, bars out of order) raises
``IndicatorInputError`` with a message that says what to change.
"""

from __future__ import annotations

import itertools
import math
import operator
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache, cached_property
from typing import assert_never

import numpy as np
import numpy.typing as npt
import talib
from talib import abstract

from tradelane.contracts.market import Bar, MarketSnapshot, PatternHit, ResolvedSymbol
from tradelane.contracts.strategy import (
    AtrSpec,
    BarSize,
    BollingerSpec,
    CandlePatternSpec,
    IndicatorSpec,
    MacdSpec,
    MovingAverageSpec,
    ObvSpec,
    PriceSource,
    RsiSpec,
    SuperTrendSpec,
    VolumeAverageSpec,
)
from tradelane.indicators.patterns import PATTERN_FUNCTIONS, pattern_lookback, scan_patterns, unknown_patterns
from tradelane.runtime.series_bytes import with_none

FloatArray = npt.NDArray[np.float64]

_MOVING_AVERAGES: dict[str, Callable[..., FloatArray]] = {
    "SMA": talib.SMA,
    "EMA": talib.EMA,
    "WMA": talib.WMA,
}


_SeriesSpec = (
    MovingAverageSpec | RsiSpec | MacdSpec | BollingerSpec | SuperTrendSpec | AtrSpec | ObvSpec | VolumeAverageSpec
)
"""Every spec but the pattern scan: each yields one or more series."""

_TIME = operator.attrgetter("time")
_OHLCV = operator.attrgetter("open", "high", "low", "close", "volume")


class IndicatorInputError(ValueError):
    """Bars or specs no retry can fix: too few bars, an unknown pattern, bars out of order."""


@dataclass(frozen=True)
class Computation:
    """What ``compute`` found.

    ``arrays`` maps each output key (``"sma_20"``, ``"macd_hist"``, ...) to one float64 per bar,
    NaN where the indicator has no value (not yet, or TA-Lib divided by zero); ``patterns`` are
    the candlestick pattern hits. The payload store takes the arrays as they are: turning each
    value into a Python float and back cost the step about a sixth of its CPU.
    """

    arrays: dict[str, FloatArray]
    patterns: tuple[PatternHit, ...]

    @cached_property
    def series(self) -> dict[str, tuple[float | None, ...]]:
        """The series as contracts carry them: floats, None where there is no value."""
        return {key: with_none(values) for key, values in self.arrays.items()}


@dataclass(frozen=True)
class _Prices:
    """The bars as TA-Lib's float64 input arrays."""

    times: tuple[datetime, ...]
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray

    @classmethod
    def of(cls, bars: Sequence[Bar]) -> _Prices:
        """The arrays of ``bars``, refusing bars that are not in strictly ascending time order."""
        times = tuple(map(_TIME, bars))
        if not all(map(operator.lt, times, times[1:])):  # compared in C: a Python loop took a tenth of the step
            index = next(i for i in range(1, len(times)) if times[i] <= times[i - 1])
            msg = (
                f"bars must be in ascending time order; bar {index} ({times[index].isoformat()}) "
                f"does not come after bar {index - 1} ({times[index - 1].isoformat()})"
            )
            raise IndicatorInputError(msg)
        # one flat run of floats, read by numpy as it comes: a list of tuples costs it a look at each tuple
        values = itertools.chain.from_iterable(map(_OHLCV, bars))
        columns = np.fromiter(values, dtype=np.float64, count=5 * len(bars)).reshape(len(bars), 5)
        open_, high, low, close, volume = (np.ascontiguousarray(column) for column in columns.T)
        return cls(times=times, open=open_, high=high, low=low, close=close, volume=volume)

    @property
    def count(self) -> int:
        return len(self.times)

    def source(self, name: PriceSource) -> FloatArray:  # noqa: PLR0911 - one return per source reads best
        """The price series a moving average reads: a column, or an average of columns."""
        match name:
            case "close":
                return self.close
            case "open":
                return self.open
            case "high":
                return self.high
            case "low":
                return self.low
            case "hl2":
                return (self.high + self.low) / 2.0
            case "hlc3":
                return (self.high + self.low + self.close) / 3.0
            case "ohlc4":
                return (self.open + self.high + self.low + self.close) / 4.0
            case _:
                assert_never(name)


def compute(bars: Sequence[Bar], specs: Sequence[IndicatorSpec]) -> Computation:
    """Every series and pattern hit the specs ask for, aligned with ``bars`` (oldest first).

    Series keys: a moving average uses ``spec.key`` (``"sma_20"``, ``"wma_10_hl2"``); RSI
    ``"rsi_{period}"``; MACD ``"macd"``, ``"macd_signal"``, ``"macd_hist"``; Bollinger
    ``"bb_upper"``, ``"bb_middle"`` (an SMA), ``"bb_lower"``; SuperTrend ``"supertrend"`` (the
    active band: the lower one in an uptrend, the upper one in a downtrend) and
    ``"supertrend_direction"`` (+1.0 up, -1.0 down; TA-Lib's SUPERTREND, which starts up);
    ATR ``"atr_{period}"``; OBV ``"obv"``; volume average ``"volume_ma_{period}"``. A pattern
    spec adds no series; its hits, on the last ``lookback`` bars, are ordered by time then name.

    Raises IndicatorInputError when bars are out of order, when specs repeat a key, when an
    indicator needs more bars than given, or when a pattern name is not a TA-Lib function.
    """
    prices = _Prices.of(bars)
    _refuse_repeated_keys(specs)
    arrays: dict[str, FloatArray] = {}
    patterns: tuple[PatternHit, ...] = ()
    for spec in specs:
        if isinstance(spec, CandlePatternSpec):
            patterns = _patterns(spec, prices)
        else:
            arrays.update({key: _finite_or_nan(values) for key, values in _series(spec, prices).items()})
    return Computation(arrays=arrays, patterns=patterns)


def snapshot(
    symbol: ResolvedSymbol,
    bar_size: BarSize,
    bars: Sequence[Bar],
    computation: Computation,
    recent: int = 60,
) -> MarketSnapshot:
    """The compact market view: last bar, the last ``recent`` bars, and each series' last two values.

    ``computation`` must come from ``compute`` on the same ``bars``.
    """
    if not bars:
        msg = "a market snapshot needs at least one bar; got none"
        raise IndicatorInputError(msg)
    if recent < 1:
        msg = f"recent must be at least 1; got {recent}"
        raise ValueError(msg)
    misaligned = sorted(key for key, values in computation.arrays.items() if len(values) != len(bars))
    if misaligned:
        msg = f"series {', '.join(misaligned)} do not align with the {len(bars)} bars given"
        raise ValueError(msg)
    last = bars[-1]
    return MarketSnapshot(
        symbol=symbol,
        bar_size=bar_size,
        last_bar_time=last.time,
        last_close=last.close,
        recent_bars=tuple(bars[-recent:]),
        latest={key: _optional_value(values[-1]) for key, values in computation.arrays.items()},
        previous={
            key: _optional_value(values[-2]) if len(values) > 1 else None for key, values in computation.arrays.items()
        },
        patterns=computation.patterns,
    )


def _series(spec: _SeriesSpec, prices: _Prices) -> dict[str, FloatArray]:  # noqa: PLR0911 - one per kind
    close = prices.close
    match spec:
        case MovingAverageSpec():
            _require(spec.key, _talib_lookback(spec.ma_type, timeperiod=spec.period), prices)
            average = _MOVING_AVERAGES[spec.ma_type]
            return {spec.key: average(prices.source(spec.source), timeperiod=spec.period)}
        case RsiSpec():
            _require(spec.key, _talib_lookback("RSI", timeperiod=spec.period), prices)
            return {spec.key: talib.RSI(close, timeperiod=spec.period)}
        case MacdSpec():
            periods = {
                "fastperiod": spec.fast_period,
                "slowperiod": spec.slow_period,
                "signalperiod": spec.signal_period,
            }
            _require("macd", _talib_lookback("MACD", **periods), prices)
            macd, signal, histogram = talib.MACD(close, **periods)
            return {"macd": macd, "macd_signal": signal, "macd_hist": histogram}
        case BollingerSpec():
            _require("bb", _talib_lookback("BBANDS", timeperiod=spec.period), prices)
            upper, middle, lower = talib.BBANDS(
                close, timeperiod=spec.period, nbdevup=spec.std_dev, nbdevdn=spec.std_dev
            )
            return {"bb_upper": upper, "bb_middle": middle, "bb_lower": lower}
        case SuperTrendSpec():
            _require("supertrend", _talib_lookback("SUPERTREND", timeperiod=spec.period), prices)
            line, trend = talib.SUPERTREND(
                prices.high, prices.low, close, timeperiod=spec.period, multiplier=spec.multiplier
            )
            direction = np.where(np.isnan(line), np.nan, trend.astype(np.float64))
            return {"supertrend": line, "supertrend_direction": direction}
        case AtrSpec():
            _require(spec.key, _talib_lookback("ATR", timeperiod=spec.period), prices)
            return {spec.key: talib.ATR(prices.high, prices.low, close, timeperiod=spec.period)}
        case ObvSpec():
            _require("obv", _talib_lookback("OBV"), prices)
            return {"obv": talib.OBV(close, prices.volume)}
        case VolumeAverageSpec():
            _require(spec.key, _talib_lookback("SMA", timeperiod=spec.period), prices)
            return {spec.key: talib.SMA(prices.volume, timeperiod=spec.period)}
        case _:
            assert_never(spec)


def _patterns(spec: CandlePatternSpec, prices: _Prices) -> tuple[PatternHit, ...]:
    names = spec.patterns or PATTERN_FUNCTIONS
    unknown = unknown_patterns(names)
    if unknown:
        msg = f"TA-Lib has no candlestick pattern {', '.join(unknown)}; names look like 'CDLENGULFING'"
        raise IndicatorInputError(msg)
    deepest = max(names, key=pattern_lookback)
    _require(f"pattern {deepest}", pattern_lookback(deepest), prices)
    return scan_patterns(
        names,
        times=prices.times,
        open_=prices.open,
        high=prices.high,
        low=prices.low,
        close=prices.close,
        lookback=spec.lookback,
    )


def _refuse_repeated_keys(specs: Sequence[IndicatorSpec]) -> None:
    """Refuse two specs with one key: the second would overwrite the first's series."""
    counts = Counter(spec.key for spec in specs)
    repeated = sorted(key for key, count in counts.items() if count > 1)
    if repeated:
        msg = f"indicators repeat {', '.join(repeated)}; each may appear once"
        raise IndicatorInputError(msg)


def _require(indicator: str, lookback: int, prices: _Prices) -> None:
    """Refuse an indicator whose lookback leaves it no value on the bars given."""
    if lookback >= prices.count:
        msg = f"{indicator} needs at least {lookback + 1} bars; got {prices.count}"
        raise IndicatorInputError(msg)


@cache
def _talib_lookback(function: str, **parameters: float) -> int:
    """Leading bars TA-Lib's ``function`` leaves without a value at these parameters."""
    indicator = abstract.Function(function)  # type: ignore[attr-defined]  # built at import; absent from the stub
    if parameters:
        indicator.set_parameters(parameters)
    return int(indicator.lookback)


def _finite_or_nan(values: FloatArray) -> FloatArray:
    """The values as a read-only float64 array, NaN where TA-Lib left NaN (no value yet) or divided by zero (an
    infinity): contracts carry finite numbers only."""
    array = np.asarray(values, dtype=np.float64)
    finite = np.where(np.isinf(array), np.nan, array)
    finite.setflags(write=False)
    return finite


def _optional_value(value: np.float64) -> float | None:
    return None if math.isnan(value) else float(value)
