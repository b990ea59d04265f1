"""The offline analyst: a fixed, documented rule set that reads a snapshot as the chart analyst would.

It needs no model and no network, and the same snapshot always gives the same analysis.
Every rule reads a few keys of ``snapshot.latest`` (and ``previous``); a rule whose keys are
missing or None is skipped, and the others still count.

Votes (weight; + is bullish, - bearish):

Core confirmations, the original system's "3 of 4":
  1. SuperTrend (2): ``supertrend_direction`` +1 is +, -1 is -.
  2. Close vs SMA 20 (1): close above ``sma_20`` is +, below is -.
  3. MACD vs signal (1): ``macd`` above ``macd_signal`` is +, below is -.
  4. RSI (1): the first ``rsi_*`` above 50 is +, below 50 is -.
Supporting evidence:
  5. Long-term trend (1.5): ``sma_50`` above ``sma_200`` is +, below is -.
  6. RSI extreme (1): RSI at or above 70 (overbought) is -, at or below 30 (oversold) is +.
  7. MACD momentum (1): ``macd_hist`` rising from ``previous`` is +, falling is -.
  8. Candle patterns (1): the summed strength of ``snapshot.patterns``, positive +, negative -.
  9. Bollinger position (0.5): close above ``bb_upper`` is - (stretched), below ``bb_lower`` +
     (stretched down); inside the bands, the upper half is + and the lower half -.
 10. EMAs (0.5): close above every ``ema_*`` is +, below every one is -.
 11. OBV (0.5): ``obv`` rising from ``previous`` is +, falling is -.
 12. Volume (0.5): a last bar with volume above the first ``volume_ma_*`` confirms its own
     direction (up bar +, down bar -).

Decision: ``net`` is the weighted sum of the votes over the weight of the rules that voted.
The bias is bullish when net >= 0.2 and at least three of the core confirmations agree (all of
them, when only two or three could be read; fewer than two is not enough); bearish mirrors it;
anything else, including conflicting inputs, is neutral.

Confidence: for a bullish or bearish bias, the share of weight on the winning side, pulled
towards 50 when little evidence was available (full strength from 6 units of weight voted),
at most 95 (rules are never certain); for neutral, 50 reduced by the net lean.

Trend: the SMAs (or, without any, the EMAs) stacked fastest above slowest with close above the
slowest and the slowest not falling is an uptrend, the mirror a downtrend; a single average
needs the close on its side and its slope in the same direction; without averages, a move of
more than 5 % across the recent bars. Anything else is sideways.

Levels: support is the swing lows (lowest low of five bars) of the recent bars below the last
close, resistance the swing highs above it, nearest first, three at most, levels closer than
half an ATR merged; the recent extreme low/high counts as a level too. For a directional bias,
the entry is the last close; the stop sits a quarter ATR (0.25 % of the close without an ATR)
beyond the nearest support (bullish) or resistance (bearish), or two ATRs from the close when
there is none; the targets are the resistances (bullish) or supports (bearish) at least one ATR
from the close (a nearer level is where the price already is). ATR is the first ``atr_*``, or
else the mean true range of the last 14 recent bars.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from tradelane.contracts.events import Analysis, Bias, Trend
from tradelane.contracts.market import Bar, MarketSnapshot, price_decimals

MODEL = "offline-rules-v1"

NET_THRESHOLD = 0.2
FULL_EVIDENCE = 6.0
CORE_AGREEMENT = 3
MAX_CONFIDENCE = 95
SWING_WINDOW = 2
MAX_LEVELS = 3
TREND_MOVE = 0.05
ATR_BARS = 14
STOP_ATR = 2.0
STOP_BUFFER_ATR = 0.25
TARGET_MIN_ATR = 1.0
MAX_PATTERNS_NAMED = 3
_TICK_SLACK = 1e-9
"""Keeps a price already on the tick grid there despite float division (1.15 / 0.01 = 114.999...)."""

Direction = Literal[-1, 0, 1]


@dataclass(frozen=True)
class Vote:
    """One rule's reading: which way, how much it weighs, and the phrase that explains it."""

    rule: str
    weight: float
    direction: Direction
    factor: str
    core: bool = False


def analyse(snapshot: MarketSnapshot) -> Analysis:
    """Read the snapshot with the rules above; deterministic, and tolerant of missing indicators."""
    reader = _Reader(snapshot)
    votes = [vote for rule in RULES if (vote := rule(reader)) is not None]
    total = sum(vote.weight for vote in votes)
    bullish = sum(vote.weight for vote in votes if vote.direction > 0)
    bearish = sum(vote.weight for vote in votes if vote.direction < 0)
    net = (bullish - bearish) / total if total else 0.0
    bias = _bias(net, [vote for vote in votes if vote.core])
    confidence = _confidence(bias, net, max(bullish, bearish), total)
    trend, trend_note = _trend(reader)
    atr = reader.atr()
    close = snapshot.last_close
    support, resistance = _levels(snapshot.recent_bars, close, atr)
    entry = stop = None
    targets: tuple[float, ...] = ()
    if bias != "neutral":
        entry = close
        stop = _stop(bias, close, support, resistance, atr, snapshot.symbol.min_tick)
        levels = resistance if bias == "bullish" else support
        reach = TARGET_MIN_ATR * atr if atr else 0.0
        targets = tuple(level for level in levels if abs(level - close) >= reach)
    return Analysis(
        bias=bias,
        trend=trend,
        confidence=confidence,
        support=support,
        resistance=resistance,
        suggested_entry=entry,
        suggested_stop=stop,
        suggested_targets=targets,
        key_factors=_key_factors(votes, bias),
        reasoning=_reasoning(bias, net, total, votes, trend, trend_note, support, resistance, reader),
        model=MODEL,
    )


class _Reader:
    """Typed access to a snapshot's indicator values, prices formatted to the symbol's tick."""

    def __init__(self, snapshot: MarketSnapshot) -> None:
        self.snapshot = snapshot
        self.close = snapshot.last_close
        self._decimals = price_decimals(snapshot.symbol.min_tick)

    def latest(self, key: str) -> float | None:
        return self.snapshot.latest.get(key)

    def previous(self, key: str) -> float | None:
        return self.snapshot.previous.get(key)

    def first(self, prefix: str) -> tuple[str, float] | None:
        """The first key starting with ``prefix`` that has a latest value, with that value."""
        for key, value in self.snapshot.latest.items():
            if key.startswith(prefix) and value is not None:
                return key, value
        return None

    def averages(self, kind: str) -> list[tuple[int, float]]:
        """(period, latest value) of every plain ``<kind>_<period>`` average, fastest first."""
        found = []
        for key, value in self.snapshot.latest.items():
            match = re.fullmatch(rf"{kind}_(\d+)", key)
            if match and value is not None:
                found.append((int(match[1]), value))
        return sorted(found)

    def atr(self) -> float | None:
        found = self.first("atr_")
        if found is not None and found[1] > 0:
            return found[1]
        return _mean_true_range(self.snapshot.recent_bars[-(ATR_BARS + 1) :])

    def price(self, value: float) -> str:
        return f"{value:.{self._decimals}f}"


def _supertrend(reader: _Reader) -> Vote | None:
    direction = reader.latest("supertrend_direction")
    if direction is None or direction == 0:
        return None
    up = direction > 0
    level = reader.latest("supertrend")
    at = f" at {reader.price(level)}" if level is not None else ""
    return Vote("supertrend", 2.0, 1 if up else -1, f"SuperTrend {'up' if up else 'down'}{at}", core=True)


def _close_vs_sma20(reader: _Reader) -> Vote | None:
    sma = reader.latest("sma_20")
    if sma is None:
        return None
    side = _side(reader.close, sma)
    word = {1: "above", -1: "below", 0: "at"}[side]
    factor = f"close {reader.price(reader.close)} {word} SMA 20 {reader.price(sma)}"
    return Vote("close_vs_sma_20", 1.0, side, factor, core=True)


def _macd_vs_signal(reader: _Reader) -> Vote | None:
    macd, signal = reader.latest("macd"), reader.latest("macd_signal")
    if macd is None or signal is None:
        return None
    side = _side(macd, signal)
    word = {1: "above", -1: "below", 0: "at"}[side]
    return Vote("macd_vs_signal", 1.0, side, f"MACD {macd:.3f} {word} signal {signal:.3f}", core=True)


def _rsi_midline(reader: _Reader) -> Vote | None:
    found = reader.first("rsi_")
    if found is None:
        return None
    key, rsi = found
    return Vote("rsi_midline", 1.0, _side(rsi, 50.0), f"{_label(key)} at {rsi:.1f}", core=True)


def _long_term_trend(reader: _Reader) -> Vote | None:
    fast, slow = reader.latest("sma_50"), reader.latest("sma_200")
    if fast is None or slow is None:
        return None
    side = _side(fast, slow)
    word = {1: "above", -1: "below", 0: "at"}[side]
    return Vote("sma_50_vs_200", 1.5, side, f"SMA 50 {reader.price(fast)} {word} SMA 200 {reader.price(slow)}")


def _rsi_extreme(reader: _Reader) -> Vote | None:
    found = reader.first("rsi_")
    if found is None:
        return None
    key, rsi = found
    if rsi >= 70:
        return Vote("rsi_extreme", 1.0, -1, f"{_label(key)} overbought at {rsi:.1f}")
    if rsi <= 30:
        return Vote("rsi_extreme", 1.0, 1, f"{_label(key)} oversold at {rsi:.1f}")
    return None


def _macd_momentum(reader: _Reader) -> Vote | None:
    now, before = reader.latest("macd_hist"), reader.previous("macd_hist")
    if now is None or before is None:
        return None
    side = _side(now, before)
    word = {1: "rising", -1: "falling", 0: "flat"}[side]
    return Vote("macd_momentum", 1.0, side, f"MACD histogram {word} {before:.3f} -> {now:.3f}")


def _candle_patterns(reader: _Reader) -> Vote | None:
    hits = reader.snapshot.patterns
    if not hits:
        return None
    strength = sum(hit.strength for hit in hits)
    strongest = sorted(hits, key=lambda hit: (-abs(hit.strength), hit.pattern))
    named = ", ".join(f"{hit.pattern} {hit.strength:+d}" for hit in strongest[:MAX_PATTERNS_NAMED])
    more = f" and {len(hits) - MAX_PATTERNS_NAMED} more" if len(hits) > MAX_PATTERNS_NAMED else ""
    return Vote("candle_patterns", 1.0, _side(strength, 0), f"candle patterns net {strength:+d}: {named}{more}")


def _bollinger(reader: _Reader) -> Vote | None:
    upper, middle, lower = reader.latest("bb_upper"), reader.latest("bb_middle"), reader.latest("bb_lower")
    if upper is None or lower is None or upper <= lower:
        return None
    percent_b = (reader.close - lower) / (upper - lower)
    if percent_b > 1:
        return Vote("bollinger", 0.5, -1, f"close above upper Bollinger band {reader.price(upper)}")
    if percent_b < 0:
        return Vote("bollinger", 0.5, 1, f"close below lower Bollinger band {reader.price(lower)}")
    centre = middle if middle is not None else (upper + lower) / 2
    half = {1: "upper", -1: "lower", 0: "middle of the"}[_side(reader.close, centre)]
    return Vote("bollinger", 0.5, _side(reader.close, centre), f"close in {half} Bollinger half (%B {percent_b:.2f})")


def _emas(reader: _Reader) -> Vote | None:
    emas = reader.averages("ema")
    if not emas:
        return None
    names = ", ".join(f"EMA {period}" for period, _ in emas)
    if all(reader.close > value for _, value in emas):
        return Vote("emas", 0.5, 1, f"close above {names}")
    if all(reader.close < value for _, value in emas):
        return Vote("emas", 0.5, -1, f"close below {names}")
    return Vote("emas", 0.5, 0, f"close between {names}")


def _obv(reader: _Reader) -> Vote | None:
    now, before = reader.latest("obv"), reader.previous("obv")
    if now is None or before is None:
        return None
    side = _side(now, before)
    return Vote("obv", 0.5, side, f"OBV {({1: 'rising', -1: 'falling', 0: 'flat'})[side]}")


def _volume(reader: _Reader) -> Vote | None:
    found = reader.first("volume_ma_")
    bars = reader.snapshot.recent_bars
    if found is None or not bars or found[1] <= 0:
        return None
    last = bars[-1]
    ratio = last.volume / found[1]
    if ratio <= 1:
        return None
    candle = _side(last.close, last.open)
    kind = {1: "an up", -1: "a down", 0: "an unchanged"}[candle]
    return Vote("volume", 0.5, candle, f"volume {ratio:.1f}x its average on {kind} bar")


RULES: tuple[Callable[[_Reader], Vote | None], ...] = (
    _supertrend,
    _close_vs_sma20,
    _macd_vs_signal,
    _rsi_midline,
    _long_term_trend,
    _rsi_extreme,
    _macd_momentum,
    _candle_patterns,
    _bollinger,
    _emas,
    _obv,
    _volume,
)
"""Every rule, in the order of the module docstring."""


def _bias(net: float, core: Sequence[Vote]) -> Bias:
    needed = min(CORE_AGREEMENT, len(core))
    if len(core) < 2:
        return "neutral"
    if net >= NET_THRESHOLD and sum(vote.direction > 0 for vote in core) >= needed:
        return "bullish"
    if net <= -NET_THRESHOLD and sum(vote.direction < 0 for vote in core) >= needed:
        return "bearish"
    return "neutral"


def _confidence(bias: Bias, net: float, winning: float, total: float) -> int:
    if bias == "neutral":
        return round(50 * (1 - abs(net)))
    agreement = winning / total
    evidence = min(1.0, total / FULL_EVIDENCE)
    return min(MAX_CONFIDENCE, round(50 + (100 * agreement - 50) * evidence))


def _trend(reader: _Reader) -> tuple[Trend, str]:
    averages, kind = reader.averages("sma"), "SMA"
    if not averages:
        averages, kind = reader.averages("ema"), "EMA"
    close = reader.close
    if not averages:
        return _trend_from_bars(reader.snapshot.recent_bars, close)
    slowest_period, slowest = averages[-1]
    before = reader.previous(f"{kind.lower()}_{slowest_period}")
    slope = 0 if before is None else _side(slowest, before)
    values = [value for _, value in averages]
    names = " > ".join(f"{kind} {period}" for period, _ in averages)
    slope_word = {1: "rising", -1: "falling", 0: "flat"}[slope]
    if len(values) == 1:
        side = _side(close, slowest)
        if side != 0 and slope == side:
            trend: Trend = "uptrend" if side > 0 else "downtrend"
            return trend, f"close {'above' if side > 0 else 'below'} a {slope_word} {kind} {slowest_period}"
        return "sideways", f"close and {kind} {slowest_period} slope disagree"
    stacked_up = all(a > b for a, b in itertools.pairwise(values))
    stacked_down = all(a < b for a, b in itertools.pairwise(values))
    if stacked_up and close > slowest and slope >= 0:
        return "uptrend", f"{names}, {kind} {slowest_period} {slope_word}"
    if stacked_down and close < slowest and slope <= 0:
        reversed_names = " < ".join(f"{kind} {period}" for period, _ in averages)
        return "downtrend", f"{reversed_names}, {kind} {slowest_period} {slope_word}"
    return "sideways", f"moving averages not aligned with the close, {kind} {slowest_period} {slope_word}"


def _trend_from_bars(bars: Sequence[Bar], close: float) -> tuple[Trend, str]:
    if len(bars) < 2:
        return "sideways", "too few bars to judge the trend"
    move = close / bars[0].close - 1
    description = f"{move:+.1%} over the last {len(bars)} bars"
    if move > TREND_MOVE:
        return "uptrend", description
    if move < -TREND_MOVE:
        return "downtrend", description
    return "sideways", description


def _levels(bars: Sequence[Bar], close: float, atr: float | None) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Support below and resistance above the close, nearest first."""
    if not bars:
        return (), ()
    highs = [bar.high for bar in bars]
    lows = [bar.low for bar in bars]
    swing_highs = [highs[i] for i in _swing_indices(highs, max)] + [max(highs)]
    swing_lows = [lows[i] for i in _swing_indices(lows, min)] + [min(lows)]
    tolerance = 0.5 * atr if atr else 0.005 * close
    support = _distinct(sorted((low for low in swing_lows if low < close), reverse=True), tolerance)
    resistance = _distinct(sorted(high for high in swing_highs if high > close), tolerance)
    return support, resistance


def _swing_indices(values: Sequence[float], extreme: Callable[[Sequence[float]], float]) -> list[int]:
    window = SWING_WINDOW
    return [i for i in range(window, len(values) - window) if values[i] == extreme(values[i - window : i + window + 1])]


def _distinct(levels: Sequence[float], tolerance: float) -> tuple[float, ...]:
    kept: list[float] = []
    for level in levels:
        if all(abs(level - other) > tolerance for other in kept):
            kept.append(level)
        if len(kept) == MAX_LEVELS:
            break
    return tuple(kept)


def _stop(
    bias: Bias,
    close: float,
    support: Sequence[float],
    resistance: Sequence[float],
    atr: float | None,
    tick: float,
) -> float | None:
    buffer = STOP_BUFFER_ATR * atr if atr else 0.0025 * close
    if bias == "bullish":
        if support:
            stop = support[0] - buffer
        elif atr:
            stop = close - STOP_ATR * atr
        else:
            return None
        stop = math.floor(stop / tick + _TICK_SLACK) * tick
    else:
        if resistance:
            stop = resistance[0] + buffer
        elif atr:
            stop = close + STOP_ATR * atr
        else:
            return None
        stop = math.ceil(stop / tick - _TICK_SLACK) * tick
    stop = round(stop, 10)
    return stop if stop > 0 else None


def _mean_true_range(bars: Sequence[Bar]) -> float | None:
    if len(bars) < 2:
        return None
    ranges = [max(bar.high, prior.close) - min(bar.low, prior.close) for prior, bar in itertools.pairwise(bars)]
    mean = sum(ranges) / len(ranges)
    return mean if mean > 0 else None


def _key_factors(votes: Sequence[Vote], bias: Bias) -> tuple[str, ...]:
    """Phrases of the votes that point somewhere: those agreeing with the bias first, heaviest first."""
    leaning = {"bullish": 1, "bearish": -1, "neutral": 0}[bias]
    pointing = [vote for vote in votes if vote.direction != 0]
    ordered = sorted(pointing, key=lambda vote: (vote.direction != leaning, -vote.weight))
    return tuple(vote.factor for vote in ordered)


def _reasoning(
    bias: Bias,
    net: float,
    total: float,
    votes: Sequence[Vote],
    trend: Trend,
    trend_note: str,
    support: Sequence[float],
    resistance: Sequence[float],
    reader: _Reader,
) -> str:
    core = [vote for vote in votes if vote.core]
    core_up = sum(vote.direction > 0 for vote in core)
    core_down = sum(vote.direction < 0 for vote in core)
    bullish = sum(vote.weight for vote in votes if vote.direction > 0)
    bearish = sum(vote.weight for vote in votes if vote.direction < 0)
    sentences = [
        f"{len(votes)} rules voted: {bullish:g} of {total:g} weight bullish, {bearish:g} bearish (net {net:+.2f}); "
        f"core confirmations {core_up} up and {core_down} down of {len(core)}."
    ]
    if bias == "neutral":
        if len(core) < 2:
            why = "fewer than two core confirmations could be read"
        elif abs(net) < NET_THRESHOLD:
            why = f"the net lean is within +/-{NET_THRESHOLD}"
        else:
            why = "too few core confirmations agree with the lean"
        sentences.append(f"Neutral because {why}, so no trade is suggested.")
    else:
        sentences.append(f"That is enough agreement for a {bias} bias.")
    sentences.append(f"Trend: {trend} ({trend_note}).")
    levels = []
    if support:
        levels.append(f"nearest support {reader.price(support[0])}")
    if resistance:
        levels.append(f"nearest resistance {reader.price(resistance[0])}")
    if levels:
        sentences.append(f"Close {reader.price(reader.close)}; {' and '.join(levels)}.")
    return " ".join(sentences)


def _side(value: float, reference: float) -> Direction:
    if value > reference:
        return 1
    if value < reference:
        return -1
    return 0


def _label(key: str) -> str:
    name, _, period = key.partition("_")
    return f"{name.upper()} {period}".strip()
