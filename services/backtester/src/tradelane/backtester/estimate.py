"""What a backtest will cost before it runs: model calls not answered from the cache, at a typical size (pure).

A decision of a variant that asks a model makes one call per timeframe it analyses (the strategy's
bar size and each extra one) and, with extra timeframes, one consolidation call. A decision whose
fingerprint (the variant's definition and the decision time) an earlier backtest already ran to the
end makes none: the llm-analyst's response cache answers the same questions.

The price of a call is an assumption, written down here: :data:`TYPICAL_TOKENS_IN` prompt tokens
(the system and analysis prompts with the indicator values, about 1,400, and one chart image, about
1,100 for a 1280 px chart read at high detail) and :data:`TYPICAL_TOKENS_OUT` completion tokens (the
JSON answer with its reasoning), priced by the model's entry in the price table. A reply that needs a
repair request costs about twice that; a model that answers at length, more. The run's real cost is
counted from the calls as they are made, and a budget stops it when reached.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from datetime import datetime
from decimal import Decimal
from typing import Final

from tradelane.backtester.variants import Variant, names_of
from tradelane.contracts.backtest import BacktestEstimate
from tradelane.contracts.llm_pricing import ModelPrice, estimate_cost
from tradelane.contracts.strategy import StrategyDefinition

TYPICAL_TOKENS_IN: Final = 2_500
"""Prompt tokens of a typical analysis call: prompts and indicators (~1,400) and one chart image (~1,100)."""
TYPICAL_TOKENS_OUT: Final = 500
"""Completion tokens of a typical answer: the JSON reading with its reasoning."""


def calls_per_decision(strategy: StrategyDefinition) -> int:
    """Model calls of one decision: one per timeframe analysed, and a consolidation when there are several."""
    timeframes = 1 + len(strategy.extra_timeframes)
    return timeframes + (1 if timeframes > 1 else 0)


def cost_per_call(prices: Mapping[str, ModelPrice], model: str) -> Decimal | None:
    """The estimated cost of one typical call to ``model``; None when the price table does not know it."""
    return estimate_cost(prices, model, TYPICAL_TOKENS_IN, TYPICAL_TOKENS_OUT)


def estimate(
    variants: Sequence[Variant],
    times: Sequence[datetime],
    fingerprints: Mapping[str, Sequence[str]],
    answered: Set[str],
    prices: Mapping[str, ModelPrice],
) -> BacktestEstimate:
    """The estimate of running ``variants`` at ``times``.

    ``fingerprints``: each variant's decisions' fingerprints by variant name (see :meth:`Variant.fingerprints`);
    ``answered``: those an earlier run completed. ``cost_usd`` is None when a variant asks a model the price
    table does not know.
    """
    calls = 0
    cached = 0
    cost: Decimal | None = Decimal(0)
    for variant in variants:
        if not variant.asks_model:
            continue
        already = sum(1 for fingerprint in fingerprints[variant.name] if fingerprint in answered)
        cached += already
        asked = (len(times) - already) * calls_per_decision(variant.strategy)
        calls += asked
        price = cost_per_call(prices, variant.strategy.analysis.model or "")
        cost = None if cost is None or price is None else cost + asked * price
    return BacktestEstimate(
        decisions=len(times),
        variants=names_of(variants),
        model_calls=calls,
        cached_decisions=cached,
        cost_usd=None if cost is None else cost.quantize(Decimal("0.0001")),
        first_decision_at=times[0] if times else None,
        last_decision_at=times[-1] if times else None,
    )
