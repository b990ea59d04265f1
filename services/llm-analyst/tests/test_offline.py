"""The offline analyst: documented rules over a snapshot, deterministic and tolerant of gaps."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

import pytest

from tradelane.contracts.events import Analysis
from tradelane.contracts.market import Bar, MarketSnapshot, PatternHit, ResolvedSymbol
from tradelane.contracts.strategy import AssetType, BarSize
from tradelane.llm_analyst.offline import MODEL, analyse

START = datetime(2025, 1, 6, tzinfo=UTC)
SYMBOL = ResolvedSymbol(conid=1, symbol="TEST", exchange="NASDAQ", currency="USD", asset_type=AssetType.STOCK)

ZIGZAG = (100, 103, 106, 104, 101, 97, 99, 102, 105, 108, 110, 112, 109, 106, 103, 100, 102, 104, 103, 105)
"""Closes whose bars (half-point wicks) swing low to 96.5 and 99.5 and high to 106.5 and 112.5; last 105."""

BULLISH_LATEST: dict[str, float | None] = {
    "sma_20": 102.0,
    "sma_50": 100.0,
    "sma_200": 95.0,
    "bb_upper": 108.0,
    "bb_middle": 102.0,
    "bb_lower": 96.0,
    "supertrend": 99.0,
    "supertrend_direction": 1.0,
    "macd": 1.2,
    "macd_signal": 0.8,
    "macd_hist": 0.4,
    "rsi_14": 62.0,
    "atr_14": 2.0,
    "obv": 1_000_000.0,
    "volume_ma_20": 1_000.0,
}
BULLISH_PREVIOUS: dict[str, float | None] = {
    **BULLISH_LATEST,
    "sma_200": 94.5,
    "macd_hist": 0.3,
    "obv": 900_000.0,
}


def bars_from_closes(closes: Sequence[float], wick: float = 0.5, volume: float = 1_500.0) -> tuple[Bar, ...]:
    """Daily bars that open at the previous close, with ``wick`` above and below the body."""
    bars = []
    previous = closes[0]
    for index, close in enumerate(closes):
        bars.append(
            Bar(
                time=START + timedelta(days=index),
                open=previous,
                high=max(previous, close) + wick,
                low=min(previous, close) - wick,
                close=close,
                volume=volume,
            )
        )
        previous = close
    return tuple(bars)


def snapshot(
    latest: Mapping[str, float | None] | None = None,
    previous: Mapping[str, float | None] | None = None,
    closes: Sequence[float] = ZIGZAG,
    patterns: tuple[PatternHit, ...] = (),
    symbol: ResolvedSymbol = SYMBOL,
    wick: float = 0.5,
) -> MarketSnapshot:
    bars = bars_from_closes(closes, wick)
    return MarketSnapshot(
        symbol=symbol,
        bar_size=BarSize.DAY_1,
        last_bar_time=bars[-1].time,
        last_close=bars[-1].close,
        recent_bars=bars,
        latest=dict(BULLISH_LATEST if latest is None else latest),
        previous=dict(BULLISH_PREVIOUS if previous is None else previous),
        patterns=patterns,
    )


def mirrored(source: MarketSnapshot) -> MarketSnapshot:
    """The same market upside down: every price p becomes 200 - p, every oscillator flips."""

    def flip(key: str, value: float | None) -> float | None:
        if value is None:
            return None
        if key.startswith("rsi_"):
            return 100 - value
        if key in {"macd", "macd_signal", "macd_hist", "supertrend_direction", "obv"}:
            return -value
        if key.startswith(("atr_", "volume_ma_")):
            return value
        return 200 - value

    def flip_all(values: dict[str, float | None]) -> dict[str, float | None]:
        renamed = {"bb_upper": "bb_lower", "bb_lower": "bb_upper"}
        return {renamed.get(key, key): flip(key, value) for key, value in values.items()}

    bars = tuple(
        bar.model_copy(
            update={"open": 200 - bar.open, "close": 200 - bar.close, "high": 200 - bar.low, "low": 200 - bar.high}
        )
        for bar in source.recent_bars
    )
    patterns = tuple(hit.model_copy(update={"strength": -hit.strength}) for hit in source.patterns)
    return source.model_copy(
        update={
            "recent_bars": bars,
            "last_close": 200 - source.last_close,
            "latest": flip_all(source.latest),
            "previous": flip_all(source.previous),
            "patterns": patterns,
        }
    )


def conflicting() -> MarketSnapshot:
    """SuperTrend up and close above SMA 20, but MACD below its signal and RSI below 50."""
    return snapshot({**BULLISH_LATEST, "macd": 0.5, "macd_signal": 0.8, "rsi_14": 45.0})


def test_bullish_snapshot_reads_bullish_with_high_confidence() -> None:
    analysis = analyse(snapshot())
    assert analysis.bias == "bullish"
    assert analysis.confidence > 60


def test_bearish_mirror_reads_bearish_with_the_same_confidence() -> None:
    bullish = analyse(snapshot())
    bearish = analyse(mirrored(snapshot()))
    assert bearish.bias == "bearish"
    assert bearish.confidence == bullish.confidence


def test_conflicting_core_confirmations_read_neutral() -> None:
    assert analyse(conflicting()).bias == "neutral"


def test_neutral_reading_suggests_no_trade() -> None:
    analysis = analyse(conflicting())
    assert (analysis.suggested_entry, analysis.suggested_stop, analysis.suggested_targets) == (None, None, ())


def test_neutral_reading_has_low_confidence() -> None:
    assert analyse(conflicting()).confidence <= 50


def test_core_agreement_without_supporting_evidence_reads_neutral() -> None:
    """All four core votes are bullish, but the heavier supporting evidence is bearish."""
    latest = {
        **BULLISH_LATEST,
        "sma_50": 90.0,
        "bb_upper": 104.0,
        "ema_9": 106.0,
        "obv": 800_000.0,
        "macd_hist": 0.2,
        "volume_ma_20": 500.0,
    }
    closes = (*ZIGZAG[:-1], 106, 105)
    assert analyse(snapshot(latest, closes=closes)).bias == "neutral"


def test_a_single_core_confirmation_is_not_enough() -> None:
    analysis = analyse(snapshot({"supertrend_direction": 1.0}, {}))
    assert analysis.bias == "neutral"


def test_two_agreeing_core_confirmations_suffice_when_the_others_are_missing() -> None:
    analysis = analyse(snapshot({"sma_20": 102.0, "rsi_14": 60.0}, {}))
    assert analysis.bias == "bullish"


def test_missing_and_none_values_are_skipped() -> None:
    latest = dict.fromkeys(BULLISH_LATEST, None) | {"sma_20": 102.0, "rsi_14": 60.0}
    assert analyse(snapshot(latest, {})) == analyse(snapshot({"sma_20": 102.0, "rsi_14": 60.0}, {}))


def test_empty_indicators_read_neutral() -> None:
    analysis = analyse(snapshot({}, {}))
    assert analysis.bias == "neutral"
    assert analysis.trend in {"uptrend", "downtrend", "sideways"}


def test_little_evidence_lowers_confidence() -> None:
    sparse = analyse(snapshot({"sma_20": 102.0, "rsi_14": 60.0}, {}))
    full = analyse(snapshot())
    assert sparse.confidence < full.confidence


def test_overbought_rsi_lowers_bullish_confidence() -> None:
    stretched = analyse(snapshot({**BULLISH_LATEST, "rsi_14": 78.0}))
    assert stretched.bias == "bullish"
    assert stretched.confidence < analyse(snapshot()).confidence
    assert "RSI 14 overbought at 78.0" in stretched.key_factors


def test_any_rsi_period_is_read() -> None:
    latest = {key: value for key, value in BULLISH_LATEST.items() if key != "rsi_14"} | {"rsi_9": 40.0}
    analysis = analyse(snapshot(latest))
    assert "RSI 9 at 40.0" in analysis.key_factors


def test_bearish_patterns_count_against_a_bullish_reading() -> None:
    engulfing = PatternHit(pattern="CDLENGULFING", time=START, strength=-100)
    with_pattern = analyse(snapshot(patterns=(engulfing,)))
    assert with_pattern.confidence < analyse(snapshot()).confidence
    assert "candle patterns net -100: CDLENGULFING -100" in with_pattern.key_factors


def test_key_factors_put_the_heaviest_agreeing_vote_first_with_numbers() -> None:
    factors = analyse(snapshot()).key_factors
    assert factors[0] == "SuperTrend up at 99.00"
    assert "close 105.00 above SMA 20 102.00" in factors
    assert "MACD 1.200 above signal 0.800" in factors


def test_key_factors_list_opposing_votes_after_agreeing_ones() -> None:
    factors = analyse(snapshot({**BULLISH_LATEST, "rsi_14": 78.0})).key_factors
    assert factors[-1] == "RSI 14 overbought at 78.0"


def test_prices_are_formatted_to_the_symbol_tick() -> None:
    forex = SYMBOL.model_copy(update={"asset_type": AssetType.FOREX, "min_tick": 0.00005})
    closes = [close / 100 for close in ZIGZAG]
    latest = {"sma_20": 1.02, "rsi_14": 60.0}
    assert "close 1.05000 above SMA 20 1.02000" in analyse(snapshot(latest, {}, closes, symbol=forex)).key_factors


def test_support_is_below_and_resistance_above_the_close_nearest_first() -> None:
    analysis = analyse(snapshot())
    assert analysis.support == (99.5, 96.5)
    assert analysis.resistance == (106.5, 112.5)


def test_levels_closer_than_half_an_atr_merge() -> None:
    analysis = analyse(snapshot({**BULLISH_LATEST, "atr_14": 8.0}))
    assert analysis.support == (99.5,)
    assert analysis.resistance == (106.5, 112.5)


def test_bullish_entry_is_the_close_and_stop_sits_below_the_nearest_support() -> None:
    analysis = analyse(snapshot())
    assert analysis.suggested_entry == 105.0
    assert analysis.suggested_stop == pytest.approx(99.0)


def test_bearish_stop_sits_above_the_nearest_resistance_and_targets_are_supports() -> None:
    analysis = analyse(mirrored(snapshot()))
    assert analysis.suggested_entry == 95.0
    assert analysis.suggested_stop == pytest.approx(101.0)
    assert analysis.suggested_targets == (87.5,)


def test_bullish_targets_are_resistances_at_least_one_atr_above_the_close() -> None:
    """ATR 2: resistance 106.5 is only 1.5 above the close of 105, so 112.5 is the first target."""
    assert analyse(snapshot()).suggested_targets == (112.5,)
    assert analyse(snapshot({**BULLISH_LATEST, "atr_14": 1.0})).suggested_targets == (106.5, 112.5)


def test_many_patterns_are_summarised() -> None:
    hits = tuple(
        PatternHit(pattern=name, time=START, strength=strength)
        for name, strength in (("CDLDOJI", 100), ("CDLHAMMER", 100), ("CDLENGULFING", -200), ("CDLHARAMI", 100))
    )
    factors = analyse(snapshot(patterns=hits)).key_factors
    assert "candle patterns net +100: CDLENGULFING -200, CDLDOJI +100, CDLHAMMER +100 and 1 more" in factors


def test_full_agreement_stops_short_of_certainty() -> None:
    assert analyse(snapshot()).confidence == 95


def test_stop_is_two_atr_away_without_support() -> None:
    falling = tuple(120 - index for index in range(20))
    analysis = analyse(snapshot(closes=falling, wick=0.0))
    assert analysis.support == ()
    assert analysis.suggested_stop == pytest.approx(101.0 - 2 * 2.0)


def test_atr_comes_from_the_bars_when_no_atr_is_given() -> None:
    latest = {key: value for key, value in BULLISH_LATEST.items() if key != "atr_14"}
    falling = tuple(120 - index for index in range(20))
    analysis = analyse(snapshot(latest, closes=falling, wick=0.0))
    assert analysis.suggested_stop == pytest.approx(101.0 - 2 * 1.0)


def test_stacked_rising_averages_are_an_uptrend() -> None:
    assert analyse(snapshot()).trend == "uptrend"


def test_mirrored_averages_are_a_downtrend() -> None:
    assert analyse(mirrored(snapshot())).trend == "downtrend"


def test_unaligned_averages_are_sideways() -> None:
    assert analyse(snapshot({**BULLISH_LATEST, "sma_50": 103.0})).trend == "sideways"


def test_falling_slow_average_is_not_an_uptrend() -> None:
    assert analyse(snapshot(previous={**BULLISH_PREVIOUS, "sma_200": 96.0})).trend == "sideways"


def test_trend_comes_from_the_bars_without_averages() -> None:
    rising = tuple(100 + index for index in range(20))
    assert analyse(snapshot({}, {}, rising)).trend == "uptrend"
    assert analyse(snapshot({}, {}, rising[::-1])).trend == "downtrend"


def test_reasoning_explains_the_votes_and_levels() -> None:
    reasoning = analyse(snapshot()).reasoning
    assert "bullish bias" in reasoning
    assert "nearest support 99.50" in reasoning
    assert "Trend: uptrend" in reasoning


def test_analysis_names_the_offline_model() -> None:
    assert analyse(snapshot()).model == MODEL == "offline-rules-v1"


def test_same_snapshot_gives_the_same_analysis() -> None:
    first: Analysis = analyse(snapshot())
    assert analyse(snapshot()) == first
