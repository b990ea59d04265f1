"""What a backtest will cost: model calls not answered from the cache, at a typical call's price (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Final

from tradelane.backtester.estimate import TYPICAL_TOKENS_IN, TYPICAL_TOKENS_OUT, calls_per_decision, estimate
from tradelane.backtester.variants import Variant
from tradelane.contracts.llm_pricing import ModelPrice
from tradelane.contracts.strategy import AnalysisSettings, BarSize, StrategyDefinition, SymbolRef

PRICES: Final = {"vision": ModelPrice(input_per_million=Decimal(2), output_per_million=Decimal(8))}
PER_CALL: Final = (TYPICAL_TOKENS_IN * 2 + TYPICAL_TOKENS_OUT * 8) / Decimal(1_000_000)
TIMES: Final = [datetime(2025, 3, 3, tzinfo=UTC) + timedelta(days=day) for day in range(10)]


def _variant(name: str, *, model: str | None = "vision", timeframes: tuple[BarSize, ...] = ()) -> Variant:
    analysis = AnalysisSettings(analyst="llm" if model else "offline", model=model, timeframes=timeframes, cache=True)
    strategy = StrategyDefinition(name="s", symbol=SymbolRef(symbol="AAPL"), analysis=analysis)
    return Variant(name, strategy, asks_model=model is not None)


def _fingerprints(*variants: Variant) -> dict[str, list[str]]:
    return {variant.name: variant.fingerprints(TIMES) for variant in variants}


def test_a_variant_asks_one_call_per_timeframe_and_a_consolidation_when_there_are_several() -> None:
    assert calls_per_decision(_variant("a").strategy) == 1
    assert calls_per_decision(_variant("a", timeframes=(BarSize.HOUR_1, BarSize.WEEK_1)).strategy) == 4


def test_the_offline_baseline_costs_nothing() -> None:
    offline = _variant("offline", model=None)
    found = estimate([offline], TIMES, _fingerprints(offline), set(), PRICES)
    assert (found.decisions, found.model_calls, found.cost_usd) == (10, 0, Decimal(0))
    assert (found.first_decision_at, found.last_decision_at) == (TIMES[0], TIMES[-1])


def test_each_call_is_priced_at_a_typical_size() -> None:
    """Ten decisions of two timeframes: three calls each, 30 calls at the typical call's price."""
    base, offline = _variant("base", timeframes=(BarSize.HOUR_1,)), _variant("offline", model=None)
    found = estimate([base, offline], TIMES, _fingerprints(base, offline), set(), PRICES)
    assert found.variants == ("base", "offline")
    assert found.model_calls == 30
    assert found.cost_usd == (30 * PER_CALL).quantize(Decimal("0.0001"))


def test_decisions_an_earlier_run_answered_cost_nothing() -> None:
    base = _variant("base")
    fingerprints = _fingerprints(base)
    found = estimate([base], TIMES, fingerprints, set(fingerprints["base"][:4]), PRICES)
    assert (found.cached_decisions, found.model_calls) == (4, 6)
    assert found.cost_usd == (6 * PER_CALL).quantize(Decimal("0.0001"))


def test_a_model_without_a_price_has_no_estimated_cost() -> None:
    unknown = _variant("base", model="llava")
    assert estimate([unknown], TIMES, _fingerprints(unknown), set(), PRICES).cost_usd is None
