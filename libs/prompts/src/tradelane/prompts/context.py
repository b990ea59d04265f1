"""The values templates render with (see :mod:`tradelane.prompts.variables` for each one).

:func:`template_context` builds them from an execution's snapshot and strategy;
:func:`sample_context` builds them from a fixed, made-up market, for validating and previewing
templates without an execution.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from tradelane.contracts.events import Analysis
from tradelane.contracts.market import Bar, MarketSnapshot, PatternHit, ResolvedSymbol
from tradelane.contracts.strategy import AnalysisSettings, AssetType, BarSize, StrategyDefinition, SymbolRef
from tradelane.prompts.answer import answer_schema_text
from tradelane.prompts.kinds import Language, TemplateType
from tradelane.prompts.values import IndicatorValues

__all__ = ["IndicatorValues", "sample_context", "template_context"]


def template_context(
    snapshot: MarketSnapshot,
    strategy: StrategyDefinition,
    *,
    now: datetime,
    chart_attached: bool = False,
    analyses: Sequence[tuple[BarSize, Analysis]] = (),
) -> dict[str, Any]:
    """The variables of one prompt about the timeframe of ``snapshot`` (its bar size).

    ``analyses`` are the per-timeframe readings a consolidation combines.
    """
    base = strategy.bar_size
    frame = snapshot.bar_size
    symbol = snapshot.symbol
    return {
        "symbol": symbol.symbol,
        "symbol_description": symbol.description,
        "exchange": symbol.exchange,
        "currency": symbol.currency,
        "asset_type": symbol.asset_type.value,
        "min_tick": symbol.min_tick,
        "timeframe": frame.value,
        "base_timeframe": base.value,
        "is_base_timeframe": frame == base,
        "timeframes": [base.value, *(extra.value for extra in strategy.extra_timeframes)],
        "latest_price": snapshot.last_close,
        "last_bar_time": snapshot.last_bar_time,
        "bars": [_bar(bar) for bar in snapshot.recent_bars],
        "bar_summary": _summary(snapshot.recent_bars),
        "indicators": IndicatorValues(snapshot.latest),
        "previous_indicators": IndicatorValues(snapshot.previous),
        "patterns": [_pattern(hit) for hit in snapshot.patterns],
        "chart_attached": chart_attached,
        "strategy": _strategy(strategy),
        "language": strategy.analysis.language,
        "analyses": [_analysis(frame_of, analysis) for frame_of, analysis in analyses],
        "answer_schema": answer_schema_text(),
        "now": now,
        "today": now.date().isoformat(),
    }


def _bar(bar: Bar) -> dict[str, Any]:
    return {
        "time": bar.time,
        "open": bar.open,
        "high": bar.high,
        "low": bar.low,
        "close": bar.close,
        "volume": bar.volume,
    }


def _summary(bars: Sequence[Bar]) -> dict[str, Any]:
    if not bars:
        return dict.fromkeys(
            ("first_time", "last_time", "open", "high", "low", "close", "change", "change_ratio"), None
        ) | {"count": 0, "average_volume": None, "last_volume": None}
    first, last = bars[0], bars[-1]
    change = last.close - first.open
    return {
        "count": len(bars),
        "first_time": first.time,
        "last_time": last.time,
        "open": first.open,
        "high": max(bar.high for bar in bars),
        "low": min(bar.low for bar in bars),
        "close": last.close,
        "change": change,
        "change_ratio": change / first.open,
        "average_volume": sum(bar.volume for bar in bars) / len(bars),
        "last_volume": last.volume,
    }


def _pattern(hit: PatternHit) -> dict[str, Any]:
    return {"pattern": hit.pattern, "time": hit.time, "strength": hit.strength, "bullish": hit.bullish}


def _strategy(strategy: StrategyDefinition) -> dict[str, Any]:
    dumped = strategy.model_dump(mode="json")
    return {
        "name": strategy.name,
        "description": strategy.description,
        "bar_size": strategy.bar_size.value,
        "duration": strategy.duration,
        "indicators": [
            spec | {"key": indicator.key}
            for spec, indicator in zip(dumped["indicators"], strategy.indicators, strict=True)
        ],
        "risk": dumped["risk"],
        "analysis": {
            "model": strategy.analysis.model,
            "temperature": strategy.analysis.temperature,
            "max_tokens": strategy.analysis.max_tokens,
            "language": strategy.analysis.language,
            "timeframes": [frame.value for frame in strategy.analysis.timeframes],
        },
    }


def _analysis(timeframe: BarSize, analysis: Analysis) -> dict[str, Any]:
    return {
        "timeframe": timeframe.value,
        "bias": analysis.bias,
        "trend": analysis.trend,
        "confidence": analysis.confidence,
        "support": list(analysis.support),
        "resistance": list(analysis.resistance),
        "suggested_entry": analysis.suggested_entry,
        "suggested_stop": analysis.suggested_stop,
        "suggested_targets": list(analysis.suggested_targets),
        "key_factors": list(analysis.key_factors),
        "reasoning": analysis.reasoning,
    }


SAMPLE_NOW = datetime(2025, 3, 14, 21, 5, tzinfo=UTC)
_SAMPLE_BARS = 60


def sample_context(template_type: TemplateType = "analysis", language: Language = "en") -> dict[str, Any]:
    """The variables of a made-up execution: 60 daily AAPL bars, the default indicators, two timeframes.

    A consolidation sample carries readings of the daily and weekly timeframes in ``analyses``.
    """
    snapshot = _sample_snapshot()
    strategy = StrategyDefinition(
        name="AAPL daily (sample)",
        symbol=SymbolRef(symbol="AAPL", exchange="SMART"),
        analysis=AnalysisSettings(language=language, timeframes=(BarSize.WEEK_1,)),
    )
    analyses: list[tuple[BarSize, Analysis]] = []
    if template_type == "consolidation":
        analyses = [(BarSize.DAY_1, _sample_analysis("bullish", 68)), (BarSize.WEEK_1, _sample_analysis("neutral", 55))]
    return template_context(snapshot, strategy, now=SAMPLE_NOW, chart_attached=True, analyses=analyses)


def _sample_snapshot() -> MarketSnapshot:
    start = SAMPLE_NOW.replace(hour=0, minute=0) - timedelta(days=_SAMPLE_BARS - 1)
    bars = []
    previous = 210.0
    for index in range(_SAMPLE_BARS):
        close = round(210 + 0.25 * index + 6 * math.sin(index / 6), 2)
        bars.append(
            Bar(
                time=start + timedelta(days=index),
                open=previous,
                high=round(max(previous, close) + 1.2, 2),
                low=round(min(previous, close) - 1.1, 2),
                close=close,
                volume=float(48_000_000 + 3_000_000 * (index % 5)),
            )
        )
        previous = close
    latest = {
        "sma_20": 222.4,
        "sma_50": 218.9,
        "sma_200": 205.3,
        "bb_upper": 231.2,
        "bb_middle": 222.4,
        "bb_lower": 213.6,
        "supertrend": 216.8,
        "supertrend_direction": 1.0,
        "macd": 1.84,
        "macd_signal": 1.21,
        "macd_hist": 0.63,
        "rsi_14": 61.7,
        "atr_14": 3.95,
        "obv": 1_250_000_000.0,
        "volume_ma_20": 53_500_000.0,
    }
    previous_values: dict[str, float | None] = {**latest, "macd_hist": 0.48, "rsi_14": 58.2, "obv": 1_201_000_000.0}
    return MarketSnapshot(
        symbol=ResolvedSymbol(
            conid=265598,
            symbol="AAPL",
            exchange="NASDAQ",
            currency="USD",
            asset_type=AssetType.STOCK,
            description="APPLE INC",
        ),
        bar_size=BarSize.DAY_1,
        last_bar_time=bars[-1].time,
        last_close=bars[-1].close,
        recent_bars=tuple(bars),
        latest=dict(latest),
        previous=previous_values,
        patterns=(PatternHit(pattern="CDLENGULFING", time=bars[-1].time, strength=100),),
    )


def _sample_analysis(bias: str, confidence: int) -> Analysis:
    return Analysis.model_validate(
        {
            "bias": bias,
            "trend": "uptrend",
            "confidence": confidence,
            "support": [219.5, 214.0],
            "resistance": [228.0, 233.5],
            "suggested_entry": 224.1 if bias != "neutral" else None,
            "suggested_stop": 218.7 if bias != "neutral" else None,
            "suggested_targets": [228.0, 233.5] if bias != "neutral" else [],
            "key_factors": ["close above SMA 20 and SMA 50", "MACD above its signal"],
            "reasoning": "Price holds above its rising averages with momentum improving.",
            "model": "sample-model",
        }
    )
