"""Indicator series, pattern hits and the market snapshot computed from bars."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Literal

import numpy as np
import numpy.typing as npt
import pytest
import talib

from tradelane.contracts.market import Bar, PatternHit, ResolvedSymbol
from tradelane.contracts.strategy import (
    AssetType,
    AtrSpec,
    BarSize,
    BollingerSpec,
    CandlePatternSpec,
    MacdSpec,
    MovingAverageSpec,
    ObvSpec,
    PriceSource,
    RsiSpec,
    SuperTrendSpec,
    VolumeAverageSpec,
    default_indicators,
)
from tradelane.indicators.compute import Computation, IndicatorInputError, compute, snapshot

FloatArray = npt.NDArray[np.float64]
START = datetime(2024, 1, 2, tzinfo=UTC)


def make_bars(
    closes: Sequence[float],
    *,
    opens: Sequence[float] | None = None,
    volumes: Sequence[float] | None = None,
    wick: float = 0.5,
) -> list[Bar]:
    """Daily bars from closes; opens default to the previous close, wicks reach ``wick`` past the body."""
    opens = opens if opens is not None else [closes[0], *closes[:-1]]
    volumes = volumes if volumes is not None else [1000.0 + i for i in range(len(closes))]
    return [
        Bar(
            time=START + timedelta(days=i),
            open=open_,
            high=max(open_, close) + wick,
            low=min(open_, close) - wick,
            close=close,
            volume=volume,
        )
        for i, (open_, close, volume) in enumerate(zip(opens, closes, volumes, strict=True))
    ]


def wavy_closes(count: int) -> list[float]:
    """A deterministic series that trends up slowly and oscillates."""
    return [100 + 10 * math.sin(i / 5) + 0.1 * i for i in range(count)]


def as_array(values: Sequence[float | None]) -> FloatArray:
    return np.array([math.nan if value is None else value for value in values], dtype=np.float64)


def column(bars: Sequence[Bar], name: str) -> FloatArray:
    return np.array([getattr(bar, name) for bar in bars], dtype=np.float64)


# moving averages and oscillators


def test_sma_of_a_ramp_is_the_mean_of_the_last_period_closes() -> None:
    series = compute(make_bars([1, 2, 3, 4, 5]), [MovingAverageSpec(period=3)]).series

    assert series["sma_3"] == (None, None, 2.0, 3.0, 4.0)


def test_sma_equals_talib_sma() -> None:
    closes = wavy_closes(80)

    series = compute(make_bars(closes), [MovingAverageSpec(period=20)]).series

    np.testing.assert_array_equal(as_array(series["sma_20"]), talib.SMA(np.array(closes), timeperiod=20))


def test_rsi_equals_talib_rsi() -> None:
    closes = wavy_closes(80)

    series = compute(make_bars(closes), [RsiSpec(period=14)]).series

    np.testing.assert_array_equal(as_array(series["rsi_14"]), talib.RSI(np.array(closes), timeperiod=14))


@pytest.mark.parametrize(("ma_type", "function"), [("EMA", talib.EMA), ("WMA", talib.WMA)])
def test_ema_and_wma_equal_talib(ma_type: Literal["EMA", "WMA"], function: Callable[..., FloatArray]) -> None:
    closes = wavy_closes(60)
    spec = MovingAverageSpec(period=10, ma_type=ma_type)

    series = compute(make_bars(closes), [spec]).series

    np.testing.assert_array_equal(as_array(series[spec.key]), function(np.array(closes), timeperiod=10))


@pytest.mark.parametrize(
    ("source", "columns"),
    [
        ("open", ("open",)),
        ("high", ("high",)),
        ("low", ("low",)),
        ("hl2", ("high", "low")),
        ("hlc3", ("high", "low", "close")),
        ("ohlc4", ("open", "high", "low", "close")),
    ],
)
def test_moving_average_reads_its_price_source(source: PriceSource, columns: tuple[str, ...]) -> None:
    bars = make_bars(wavy_closes(40), wick=0.7)
    spec = MovingAverageSpec(period=5, source=source)
    price = np.mean([column(bars, name) for name in columns], axis=0)

    series = compute(bars, [spec]).series

    np.testing.assert_allclose(as_array(series[f"sma_5_{source}"]), talib.SMA(price, timeperiod=5))


def test_macd_yields_line_signal_and_histogram() -> None:
    series = compute(make_bars(wavy_closes(80)), [MacdSpec()]).series

    macd, signal, histogram = (as_array(series[key]) for key in ("macd", "macd_signal", "macd_hist"))
    np.testing.assert_allclose(histogram[33:], macd[33:] - signal[33:])
    assert series["macd_hist"][32] is None


def test_bollinger_bands_sit_std_dev_deviations_around_the_sma() -> None:
    closes = wavy_closes(60)

    series = compute(make_bars(closes), [BollingerSpec(period=20, std_dev=2.5)]).series

    middle = as_array(series["bb_middle"])
    deviation = talib.STDDEV(np.array(closes), timeperiod=20, nbdev=1)
    np.testing.assert_allclose(middle, talib.SMA(np.array(closes), timeperiod=20))
    np.testing.assert_allclose(as_array(series["bb_upper"]), middle + 2.5 * deviation)
    np.testing.assert_allclose(as_array(series["bb_lower"]), middle - 2.5 * deviation)


def test_atr_and_volume_average_equal_talib() -> None:
    bars = make_bars(wavy_closes(50))

    series = compute(bars, [AtrSpec(period=14), VolumeAverageSpec(period=10)]).series

    high, low, close, volume = (column(bars, name) for name in ("high", "low", "close", "volume"))
    np.testing.assert_array_equal(as_array(series["atr_14"]), talib.ATR(high, low, close, timeperiod=14))
    np.testing.assert_array_equal(as_array(series["volume_ma_10"]), talib.SMA(volume, timeperiod=10))


def test_obv_adds_volume_on_up_closes_subtracts_on_down_and_holds_on_flat() -> None:
    bars = make_bars([10, 11, 10.5, 10.5, 12], volumes=[100, 200, 300, 400, 500])

    series = compute(bars, [ObvSpec()]).series

    assert series["obv"] == (100.0, 300.0, 0.0, 0.0, 500.0)


def test_series_hold_none_until_the_indicator_has_a_value() -> None:
    series = compute(make_bars(wavy_closes(30)), [RsiSpec(period=14)]).series

    assert series["rsi_14"][:14] == (None,) * 14
    assert all(isinstance(value, float) for value in series["rsi_14"][14:])


def test_the_arrays_hold_nan_where_the_series_hold_none_and_cannot_be_changed() -> None:
    computation = compute(make_bars(wavy_closes(30)), [RsiSpec(period=14)])

    rsi = computation.arrays["rsi_14"]
    assert [math.isnan(value) for value in rsi] == [value is None for value in computation.series["rsi_14"]]
    with pytest.raises(ValueError, match="read-only"):
        rsi[0] = 1.0


def test_default_indicator_set_yields_every_documented_key() -> None:
    computation = compute(make_bars(wavy_closes(260)), default_indicators())

    assert set(computation.series) == {
        "sma_20",
        "sma_50",
        "sma_200",
        "bb_upper",
        "bb_middle",
        "bb_lower",
        "supertrend",
        "supertrend_direction",
        "macd",
        "macd_signal",
        "macd_hist",
        "rsi_14",
        "atr_14",
        "obv",
        "volume_ma_20",
    }
    assert all(len(values) == 260 for values in computation.series.values())


# SuperTrend


def rise_then_fall(bars_each_way: int = 40) -> list[float]:
    up = [100.0 + 2 * i for i in range(bars_each_way)]
    return up + [up[-1] - 2 * (i + 1) for i in range(bars_each_way)]


def test_supertrend_turns_down_after_the_series_turns_down() -> None:
    series = compute(make_bars(rise_then_fall()), [SuperTrendSpec(period=10, multiplier=3)]).series

    direction = series["supertrend_direction"]
    assert direction[39] == 1.0
    assert direction[-1] == -1.0
    assert set(direction[10:]) == {1.0, -1.0}


def test_supertrend_band_is_below_close_in_an_uptrend() -> None:
    closes = [100.0 + 2 * i for i in range(40)]

    series = compute(make_bars(closes), [SuperTrendSpec(period=10)]).series

    assert all(series["supertrend_direction"][i] == 1.0 for i in range(10, 40))
    bands = series["supertrend"][10:]
    assert all(band is not None and band < close for band, close in zip(bands, closes[10:], strict=True))


def test_supertrend_band_is_above_close_after_turning_down() -> None:
    closes = rise_then_fall()

    series = compute(make_bars(closes), [SuperTrendSpec(period=10, multiplier=3)]).series

    turned = series["supertrend_direction"].index(-1.0)
    bands = series["supertrend"][turned:]
    assert all(band is not None and band > close for band, close in zip(bands, closes[turned:], strict=True))


def test_supertrend_has_no_value_or_direction_before_its_atr() -> None:
    series = compute(make_bars(wavy_closes(20)), [SuperTrendSpec(period=10)]).series

    assert series["supertrend"][:10] == (None,) * 10
    assert series["supertrend_direction"][:10] == (None,) * 10
    assert series["supertrend"][10] is not None


# refused input


def test_too_few_bars_names_the_indicator_and_the_numbers() -> None:
    with pytest.raises(IndicatorInputError, match=r"^sma_200 needs at least 200 bars; got 120$"):
        compute(make_bars(wavy_closes(120)), [MovingAverageSpec(period=200)])


def test_exactly_enough_bars_yields_one_value() -> None:
    series = compute(make_bars(wavy_closes(200)), [MovingAverageSpec(period=200)]).series

    assert series["sma_200"][-1] is not None
    assert series["sma_200"][-2] is None


def test_macd_needs_the_bars_of_both_its_averages() -> None:
    with pytest.raises(IndicatorInputError, match=r"^macd needs at least 34 bars; got 33$"):
        compute(make_bars(wavy_closes(33)), [MacdSpec()])


def test_unknown_pattern_names_are_listed() -> None:
    spec = CandlePatternSpec(patterns=("CDLNOSUCH", "CDLENGULFING", "CDLMADEUP"))

    with pytest.raises(IndicatorInputError, match="CDLNOSUCH, CDLMADEUP;") as raised:
        compute(make_bars(wavy_closes(30)), [spec])
    assert "CDLENGULFING," not in str(raised.value)


def test_pattern_scan_needs_the_bars_of_its_deepest_pattern() -> None:
    with pytest.raises(IndicatorInputError, match=r"needs at least 15 bars; got 10$"):
        compute(make_bars(wavy_closes(10)), [CandlePatternSpec()])


def test_bars_out_of_time_order_are_refused() -> None:
    bars = make_bars(wavy_closes(30))
    bars[10], bars[11] = bars[11], bars[10]

    with pytest.raises(IndicatorInputError, match="ascending time order; bar 11"):
        compute(bars, [MovingAverageSpec(period=5)])


def test_bars_with_a_repeated_time_are_refused() -> None:
    bars = make_bars(wavy_closes(30))
    bars[5] = bars[5].model_copy(update={"time": bars[4].time})

    with pytest.raises(IndicatorInputError, match="ascending time order; bar 5"):
        compute(bars, [MovingAverageSpec(period=5)])


def test_specs_repeating_a_key_are_refused() -> None:
    with pytest.raises(IndicatorInputError, match="indicators repeat macd"):
        compute(make_bars(wavy_closes(80)), [MacdSpec(), MacdSpec(fast_period=5)])


# candlestick patterns


def bullish_engulfing_bars(after: int = 0) -> list[Bar]:
    """Thirteen small falling bearish bars, a bearish bar, a bullish bar whose body engulfs it, then flat bars."""
    falling = [round(12.0 - 0.1 * i, 2) for i in range(13)]
    opens = [*falling, 10.6, 10.0] + [10.8] * after
    closes = [round(open_ - 0.1, 2) for open_ in falling] + [10.1, 10.8] + [10.8] * after
    return make_bars(closes, opens=opens, wick=0.05)


def test_bullish_engulfing_pair_is_found_on_its_second_bar() -> None:
    bars = bullish_engulfing_bars()

    patterns = compute(bars, [CandlePatternSpec(patterns=("CDLENGULFING",))]).patterns

    assert patterns == (PatternHit(pattern="CDLENGULFING", time=bars[-1].time, strength=100),)
    assert patterns[0].bullish


def test_scan_of_every_pattern_includes_engulfing() -> None:
    bars = bullish_engulfing_bars()

    patterns = compute(bars, [CandlePatternSpec(patterns=())]).patterns

    assert PatternHit(pattern="CDLENGULFING", time=bars[14].time, strength=100) in patterns


def test_pattern_before_the_lookback_window_is_not_reported() -> None:
    bars = bullish_engulfing_bars(after=3)
    spec = CandlePatternSpec(patterns=("CDLENGULFING",), lookback=3)

    assert compute(bars, [spec]).patterns == ()
    assert compute(bars, [spec.model_copy(update={"lookback": 4})]).patterns == (
        PatternHit(pattern="CDLENGULFING", time=bars[14].time, strength=100),
    )


def test_pattern_hits_are_ordered_by_time_then_name() -> None:
    rng = np.random.default_rng(7)
    closes = 50 + np.cumsum(rng.normal(0, 1, 120))
    opens = closes + rng.normal(0, 0.8, 120)

    patterns = compute(make_bars(closes.tolist(), opens=opens.tolist()), [CandlePatternSpec(lookback=50)]).patterns

    assert len({hit.time for hit in patterns}) > 1
    assert list(patterns) == sorted(patterns, key=lambda hit: (hit.time, hit.pattern))


# snapshot

SYMBOL = ResolvedSymbol(conid=265598, symbol="AAPL", exchange="NASDAQ", currency="USD", asset_type=AssetType.STOCK)


def test_snapshot_holds_the_last_and_previous_value_of_every_series() -> None:
    bars = make_bars(wavy_closes(100))
    computation = compute(bars, [MovingAverageSpec(period=5), ObvSpec()])

    market = snapshot(SYMBOL, BarSize.DAY_1, bars, computation)

    assert market.latest == {key: values[-1] for key, values in computation.series.items()}
    assert market.previous == {key: values[-2] for key, values in computation.series.items()}
    assert market.latest["sma_5"] == pytest.approx(sum(bar.close for bar in bars[-5:]) / 5)


def test_snapshot_previous_is_none_where_the_series_had_no_value_yet() -> None:
    bars = make_bars(wavy_closes(5))

    market = snapshot(SYMBOL, BarSize.DAY_1, bars, compute(bars, [MovingAverageSpec(period=5)]))

    assert market.latest["sma_5"] is not None
    assert market.previous["sma_5"] is None


def test_snapshot_keeps_the_last_bar_and_the_recent_bars() -> None:
    bars = make_bars(wavy_closes(100))

    market = snapshot(SYMBOL, BarSize.HOUR_1, bars, compute(bars, [ObvSpec()]), recent=60)

    assert market.last_bar_time == bars[-1].time
    assert market.last_close == bars[-1].close
    assert market.recent_bars == tuple(bars[40:])
    assert market.bar_size is BarSize.HOUR_1


def test_snapshot_carries_the_pattern_hits() -> None:
    bars = bullish_engulfing_bars()
    computation = compute(bars, [CandlePatternSpec(patterns=("CDLENGULFING",))])

    assert snapshot(SYMBOL, BarSize.DAY_1, bars, computation).patterns == computation.patterns


def test_snapshot_refuses_a_computation_from_other_bars() -> None:
    bars = make_bars(wavy_closes(30))
    computation = Computation(arrays={"obv": np.array([1.0, 2.0])}, patterns=())

    with pytest.raises(ValueError, match="obv do not align with the 30 bars"):
        snapshot(SYMBOL, BarSize.DAY_1, bars, computation)
