"""Average-cost accounting: opening, adding, reducing, closing and flipping a position."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from tradelane.contracts.trading import OrderSide
from tradelane.trading.position_accounting import Holding, apply_fill, reduces

AT = datetime(2025, 3, 4, 15, tzinfo=UTC)
D = Decimal


def test_a_buy_into_a_flat_book_opens_at_the_fill_price() -> None:
    effect = apply_fill(Holding(), OrderSide.BUY, D(10), D(100), D(1), AT)
    assert effect.holding == Holding(D(10), D(100), D(-1), AT)
    assert effect.cash_change == D(-1001)
    assert effect.realized_pnl == D(-1)


def test_adding_moves_the_average_cost_to_the_weighted_mean() -> None:
    effect = apply_fill(Holding(D(10), D(100), D(0), AT), OrderSide.BUY, D(30), D(104), D(0), AT)
    assert effect.holding.quantity == 40
    assert effect.holding.average_cost == D(103)


def test_reducing_a_long_realizes_the_difference_and_keeps_the_average() -> None:
    effect = apply_fill(Holding(D(10), D(100), D(0), AT), OrderSide.SELL, D(4), D(110), D(2), AT)
    assert effect.holding.quantity == 6
    assert effect.holding.average_cost == 100
    assert effect.realized_pnl == D(38)
    assert effect.cash_change == D(438)


def test_covering_a_short_realizes_the_fall() -> None:
    effect = apply_fill(Holding(D(-5), D(50), D(0), AT), OrderSide.BUY, D(5), D(45), D(0), AT)
    assert effect.holding == Holding(D(0), D(0), D(25), None)
    assert effect.realized_pnl == D(25)


def test_a_fill_larger_than_the_position_flips_it_at_the_fill_price() -> None:
    later = datetime(2025, 3, 5, tzinfo=UTC)
    effect = apply_fill(Holding(D(3), D(100), D(0), AT), OrderSide.SELL, D(5), D(90), D(0), later)
    assert effect.holding == Holding(D(-2), D(90), D(-30), later)


def test_realized_pnl_accumulates_across_fills() -> None:
    holding = Holding(D(10), D(100), D(5), AT)
    effect = apply_fill(holding, OrderSide.SELL, D(10), D(101), D(1), AT)
    assert effect.holding.realized_pnl == D(14)


def test_an_order_reduces_only_on_the_other_side_and_up_to_the_position() -> None:
    assert reduces(D(10), OrderSide.SELL, D(10))
    assert not reduces(D(10), OrderSide.SELL, D(11))
    assert not reduces(D(10), OrderSide.BUY, D(1))
    assert reduces(D(-3), OrderSide.BUY, D(2))
    assert not reduces(D(0), OrderSide.SELL, D(1))
