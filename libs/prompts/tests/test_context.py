"""The variables templates see, built from an execution, and their documentation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tradelane.contracts.events import Analysis
from tradelane.contracts.market import Bar, MarketSnapshot, PatternHit, ResolvedSymbol
from tradelane.contracts.strategy import AnalysisSettings, AssetType, BarSize, StrategyDefinition, SymbolRef
from tradelane.prompts.context import sample_context, template_context
from tradelane.prompts.variables import VARIABLE_NAMES, VARIABLES

NOW = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)
START = datetime(2025, 5, 1, tzinfo=UTC)


def _bars(count: int = 10) -> tuple[Bar, ...]:
    return tuple(
        Bar(time=START + timedelta(days=i), open=100 + i, high=102 + i, low=99 + i, close=101 + i, volume=1000 + i)
        for i in range(count)
    )


def _snapshot(bar_size: BarSize = BarSize.DAY_1, bars: tuple[Bar, ...] | None = None) -> MarketSnapshot:
    bars = bars or _bars()
    return MarketSnapshot(
        symbol=ResolvedSymbol(conid=1, symbol="EUR", exchange="IDEALPRO", currency="USD", asset_type=AssetType.FOREX),
        bar_size=bar_size,
        last_bar_time=bars[-1].time,
        last_close=bars[-1].close,
        recent_bars=bars,
        latest={"rsi_14": 61.0, "sma_20": None},
        previous={"rsi_14": 58.0, "sma_20": None},
        patterns=(PatternHit(pattern="CDLDOJI", time=bars[-1].time, strength=-100),),
    )


def _strategy(**analysis: object) -> StrategyDefinition:
    return StrategyDefinition(
        name="fx", symbol=SymbolRef(symbol="EUR"), analysis=AnalysisSettings.model_validate(analysis)
    )


def test_every_variable_in_a_context_is_documented_and_every_documented_one_is_there() -> None:
    context = template_context(_snapshot(), _strategy(), now=NOW)
    assert set(context) == VARIABLE_NAMES
    assert len(VARIABLES) == len(VARIABLE_NAMES)


def test_the_base_timeframe_has_the_snapshot_indicators_and_patterns() -> None:
    context = template_context(_snapshot(), _strategy(), now=NOW)
    assert context["is_base_timeframe"] is True
    assert context["indicators"]["rsi_14"] == 61.0
    assert context["previous_indicators"]["rsi_14"] == 58.0
    assert context["patterns"] == [
        {"pattern": "CDLDOJI", "time": START + timedelta(days=9), "strength": -100, "bullish": False}
    ]


def test_an_extra_timeframe_has_its_own_bars_and_indicators() -> None:
    weekly = _snapshot(BarSize.WEEK_1, _bars(2))
    context = template_context(weekly, _strategy(timeframes=["1 week"]), now=NOW, chart_attached=True)
    assert (context["timeframe"], context["base_timeframe"]) == ("1 week", "1 day")
    assert context["is_base_timeframe"] is False
    assert context["timeframes"] == ["1 day", "1 week"]
    assert context["indicators"]["rsi_14"] == 61.0
    assert len(context["bars"]) == 2
    assert context["chart_attached"] is True


def test_the_bar_summary_spans_the_bars() -> None:
    summary = template_context(_snapshot(), _strategy(), now=NOW)["bar_summary"]
    assert summary["count"] == 10
    assert (summary["open"], summary["high"], summary["low"], summary["close"]) == (100, 111, 99, 110)
    assert summary["change_ratio"] == 0.1


def test_timeframes_list_the_base_first_and_skip_a_repeat_of_it() -> None:
    strategy = _strategy(timeframes=["1 day", "1 week"])
    assert template_context(_snapshot(), strategy, now=NOW)["timeframes"] == ["1 day", "1 week"]


def test_a_consolidation_sees_each_timeframe_reading() -> None:
    reading = Analysis(bias="bearish", trend="downtrend", confidence=40, model="m", support=(99.0,))
    context = template_context(_snapshot(), _strategy(), now=NOW, analyses=[(BarSize.WEEK_1, reading)])
    assert context["analyses"][0]["timeframe"] == "1 week"
    assert context["analyses"][0]["bias"] == "bearish"
    assert context["analyses"][0]["support"] == [99.0]


def test_strategy_parameters_include_risk_and_analysis_settings() -> None:
    strategy = template_context(_snapshot(), _strategy(language="zh"), now=NOW)["strategy"]
    assert strategy["risk"]["min_risk_reward"] == "1.5"
    assert strategy["analysis"]["language"] == "zh"
    rsi = next(spec for spec in strategy["indicators"] if spec["kind"] == "rsi")
    assert (rsi["key"], rsi["period"], rsi["overbought"]) == ("rsi_14", 14, 70)


def test_now_and_today_come_from_the_given_time() -> None:
    context = template_context(_snapshot(), _strategy(), now=NOW)
    assert (context["now"], context["today"]) == (NOW, "2025-06-02")


def test_the_sample_consolidation_has_two_readings_and_the_analysis_sample_none() -> None:
    assert len(sample_context("consolidation")["analyses"]) == 2
    assert sample_context("analysis")["analyses"] == []
