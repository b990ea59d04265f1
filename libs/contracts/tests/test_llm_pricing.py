"""Estimated cost: a price per million tokens, looked up by model name or its longest prefix."""

from __future__ import annotations

from decimal import Decimal

from tradelane.contracts.llm_pricing import DEFAULT_PRICES, ModelPrice, estimate_cost, price_of

PRICES = {
    "gpt-4o": ModelPrice(input_per_million=Decimal("2.50"), output_per_million=Decimal(10)),
    "gpt-4o-mini": ModelPrice(input_per_million=Decimal("0.15"), output_per_million=Decimal("0.60")),
}


def test_the_cost_is_tokens_times_the_price_per_million() -> None:
    assert estimate_cost(PRICES, "gpt-4o", 1_000_000, 100_000) == Decimal("3.5")


def test_a_dated_model_is_priced_by_its_family() -> None:
    assert price_of(PRICES, "gpt-4o-2024-08-06") == PRICES["gpt-4o"]


def test_the_longest_prefix_wins() -> None:
    assert price_of(PRICES, "gpt-4o-mini-2024-07-18") == PRICES["gpt-4o-mini"]


def test_an_unknown_model_has_no_cost() -> None:
    assert estimate_cost(PRICES, "llava:13b", 1000, 1000) is None


def test_the_default_table_prices_common_openai_models() -> None:
    assert {"gpt-4o", "gpt-4o-mini", "gpt-4.1"} <= set(DEFAULT_PRICES)
