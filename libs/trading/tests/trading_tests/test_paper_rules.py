"""The paper simulator's fill rules: arrival against the mark, then bar by bar."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from tradelane.contracts.market import Bar
from tradelane.contracts.trading import OrderSide, OrderTicket, OrderType
from tradelane.trading.paper import PaperCosts, fill_in_bar, fill_on_arrival, fill_priority

from .support import AAPL, NO_COSTS

D = Decimal
T = datetime(2025, 3, 4, 15, tzinfo=UTC)


def _order(side: OrderSide, order_type: OrderType, limit: str | None = None, stop: str | None = None) -> OrderTicket:
    return OrderTicket(
        client_ref="t",
        instrument=AAPL,
        side=side,
        order_type=order_type,
        quantity=D(10),
        limit_price=D(limit) if limit else None,
        stop_price=D(stop) if stop else None,
    )


def _bar(open_: float, high: float, low: float, close: float) -> Bar:
    return Bar(time=T, open=open_, high=high, low=low, close=close, volume=1)


def test_a_market_order_fills_at_the_mark_plus_slippage_on_the_tick() -> None:
    costs = PaperCosts(slippage_bps=D(10))
    assert fill_on_arrival(_order(OrderSide.BUY, OrderType.MARKET), D(100), costs) == D("100.1")
    assert fill_on_arrival(_order(OrderSide.SELL, OrderType.MARKET), D(100), costs) == D("99.9")


def test_a_marketable_limit_never_fills_worse_than_its_limit() -> None:
    costs = PaperCosts(slippage_bps=D(10))
    assert fill_on_arrival(_order(OrderSide.BUY, OrderType.LIMIT, limit="100.05"), D(100), costs) == D("100.05")


def test_a_limit_below_the_market_waits() -> None:
    assert fill_on_arrival(_order(OrderSide.BUY, OrderType.LIMIT, limit="99"), D(100), NO_COSTS) is None


def test_a_buy_stop_already_through_fills_at_once() -> None:
    assert fill_on_arrival(_order(OrderSide.BUY, OrderType.STOP, stop="99"), D(100), NO_COSTS) == D(100)


def test_a_sell_stop_below_the_market_waits() -> None:
    assert fill_on_arrival(_order(OrderSide.SELL, OrderType.STOP, stop="95"), D(100), NO_COSTS) is None


def test_a_limit_fills_at_its_price_when_the_bar_trades_through_it() -> None:
    assert fill_in_bar(_order(OrderSide.SELL, OrderType.LIMIT, limit="105"), _bar(101, 106, 100, 104), NO_COSTS) == 105


def test_a_limit_fills_at_the_open_when_the_bar_gaps_beyond_it() -> None:
    assert fill_in_bar(_order(OrderSide.SELL, OrderType.LIMIT, limit="105"), _bar(107, 108, 106, 107), NO_COSTS) == 107


def test_a_bar_that_does_not_reach_the_limit_fills_nothing() -> None:
    assert fill_in_bar(_order(OrderSide.SELL, OrderType.LIMIT, limit="105"), _bar(101, 104, 100, 103), NO_COSTS) is None


def test_a_stop_fills_at_the_stop_or_at_the_open_after_a_gap() -> None:
    stop = _order(OrderSide.SELL, OrderType.STOP, stop="95")
    assert fill_in_bar(stop, _bar(97, 98, 94, 96), NO_COSTS) == 95
    assert fill_in_bar(stop, _bar(92, 93, 90, 91), NO_COSTS) == 92


def test_a_stop_limit_does_not_fill_past_its_limit() -> None:
    order = _order(OrderSide.SELL, OrderType.STOP_LIMIT, limit="94", stop="95")
    assert fill_in_bar(order, _bar(97, 98, 94, 96), NO_COSTS) == 95
    assert fill_in_bar(order, _bar(92, 93, 90, 91), NO_COSTS) is None


def test_stops_fill_before_limits_in_the_same_bar() -> None:
    assert fill_priority(_order(OrderSide.SELL, OrderType.STOP, stop="95")) < fill_priority(
        _order(OrderSide.SELL, OrderType.LIMIT, limit="105")
    )


def test_commission_is_a_rate_of_value_with_a_minimum() -> None:
    costs = PaperCosts(commission_rate=D("0.001"), commission_minimum=D(1))
    assert costs.commission(D(10), D(50)) == D(1)
    assert costs.commission(D(100), D(50)) == D(5)
