"""Estimated cost of a model call, from a price table per million tokens.

The llm-analyst prices each call it makes with it; the backtester estimates a backtest's model cost
with it before the backtest runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

_MILLION = Decimal(1_000_000)


class ModelPrice(BaseModel):
    """What a model costs per million prompt (input) and completion (output) tokens."""

    model_config = ConfigDict(frozen=True)

    input_per_million: Decimal = Field(ge=0)
    output_per_million: Decimal = Field(ge=0)


DEFAULT_PRICES: Mapping[str, ModelPrice] = {
    name: ModelPrice(input_per_million=Decimal(inp), output_per_million=Decimal(out))
    for name, inp, out in (
        ("gpt-4o", "2.50", "10.00"),
        ("gpt-4o-mini", "0.15", "0.60"),
        ("gpt-4.1", "2.00", "8.00"),
        ("gpt-4.1-mini", "0.40", "1.60"),
        ("gpt-4.1-nano", "0.10", "0.40"),
    )
}
"""OpenAI's published list prices in USD (estimates; override with TRADELANE_LLM_PRICES)."""


def price_of(prices: Mapping[str, ModelPrice], model: str) -> ModelPrice | None:
    """The price of ``model``: its own entry, else the longest model-name prefix in the table.

    A dated model such as ``gpt-4o-2024-08-06`` is priced as ``gpt-4o``; ``gpt-4o-mini`` has its own entry.
    """
    if model in prices:
        return prices[model]
    prefixes = [name for name in prices if model.startswith(name)]
    return prices[max(prefixes, key=len)] if prefixes else None


def estimate_cost(prices: Mapping[str, ModelPrice], model: str, tokens_in: int, tokens_out: int) -> Decimal | None:
    """The estimated cost of a call, or None when ``model`` is not in the table."""
    price = price_of(prices, model)
    if price is None:
        return None
    return (tokens_in * price.input_per_million + tokens_out * price.output_per_million) / _MILLION
