"""Prices are written with the decimals of the instrument's tick, within a cap."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tradelane.contracts.market import DEFAULT_PRICE_DECIMALS, MAX_PRICE_DECIMALS, price_decimals


@pytest.mark.parametrize(
    ("tick", "decimals"),
    [(0.01, 2), (0.25, 2), (0.5, 1), (0.00005, 5), (1, 0), (5.0, 0), (Decimal("0.0025"), 4), ("0.1", 1)],
)
def test_a_price_has_as_many_decimals_as_its_tick(tick: float | Decimal | str, decimals: int) -> None:
    assert price_decimals(tick) == decimals


def test_a_finer_tick_than_a_satoshi_is_written_with_the_cap() -> None:
    assert price_decimals(1e-8) == MAX_PRICE_DECIMALS == 8
    assert price_decimals(1e-12) == MAX_PRICE_DECIMALS


@pytest.mark.parametrize("tick", ["not a number", "inf", "nan"])
def test_a_tick_that_is_not_a_finite_number_gives_the_default(tick: str) -> None:
    assert price_decimals(tick) == DEFAULT_PRICE_DECIMALS == 2
