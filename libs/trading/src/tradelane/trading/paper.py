"""The simulated fill rules: when an order executes, at what price, and what it costs.

The broker's paper venue fills by them, and so does a backtest's simulated venue
(:mod:`tradelane.trading.simulation`, whose clock comes from the bars). The paper venue's prices
come from the bus, not from another service's code: the market-data step publishes every
execution's bars (``pipeline.market_data.fetched``), and the broker keeps the last close of each
instrument as its mark. So the paper broker fills

* at once, against the mark, when the order is marketable on arrival: a market order; a buy
  limit at or above the mark (a sell limit at or below); a buy stop at or below the mark
  (a sell stop at or above), which has already triggered;
* later, against the first bar that starts after the order began working and trades through
  its price: a limit fills at its limit, or at the bar's open when the bar opens beyond it; a
  stop triggers when the bar reaches it and fills at the stop, or at the open when the bar gaps
  through it; a stop-limit fills like a stop whose fill may not be worse than its limit.

Market and stop fills pay ``slippage_bps`` against the trader (limit fills never fill worse than
the limit), rounded to the instrument's tick. Commission is ``commission_rate`` of the fill's
value, at least ``commission_minimum``. When a stop-loss and a take-profit of one bracket could
both have filled inside one bar, the stop-loss is taken (the bar does not say which came first).
A bar that started before the order began working is not used (it may hold prices from before).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from tradelane.contracts.market import Bar
from tradelane.contracts.trading import OrderSide, OrderTicket, OrderType

_BASIS_POINT = Decimal("0.0001")


@dataclass(frozen=True)
class PaperCosts:
    """Slippage (basis points of price) and commission (rate of value, with a minimum)."""

    slippage_bps: Decimal = Decimal(2)
    commission_rate: Decimal = Decimal("0.0002")
    commission_minimum: Decimal = Decimal(1)

    def commission(self, quantity: Decimal, price: Decimal) -> Decimal:
        return max(self.commission_minimum, (quantity * price * self.commission_rate).quantize(Decimal("0.01")))

    def slipped(self, price: Decimal, side: OrderSide, tick: Decimal) -> Decimal:
        """``price`` moved against a ``side`` order by the slippage, on the tick grid."""
        moved = price * (1 + side.sign * self.slippage_bps * _BASIS_POINT)
        return to_tick(moved, tick, ROUND_CEILING if side is OrderSide.BUY else ROUND_FLOOR)


def to_tick(price: Decimal, tick: Decimal, rounding: str) -> Decimal:
    """``price`` on the tick grid, rounded as told (never below one tick)."""
    steps = (price / tick).to_integral_value(rounding=rounding)
    return max(steps * tick, tick).normalize()


def _price(value: float) -> Decimal:
    return Decimal(str(value))


def _within_limit(order: OrderTicket, reference: Decimal, slipped: Decimal) -> Decimal | None:
    """``slipped`` but never worse than the order's limit; None when ``reference`` itself is beyond the limit."""
    limit = order.limit_price
    if limit is None:
        return slipped
    if order.side is OrderSide.BUY:
        return None if reference > limit else min(slipped, limit)
    return None if reference < limit else max(slipped, limit)


def fill_on_arrival(order: OrderTicket, mark: Decimal, costs: PaperCosts) -> Decimal | None:
    """The price an order fills at when it arrives with the instrument at ``mark``; None if it must wait."""
    tick = Decimal(str(order.instrument.min_tick))
    buy = order.side is OrderSide.BUY
    slipped = costs.slipped(mark, order.side, tick)
    if order.order_type is OrderType.MARKET:
        return slipped
    if order.order_type is OrderType.LIMIT:
        assert order.limit_price is not None
        return _within_limit(order, mark, slipped)
    assert order.stop_price is not None
    triggered = mark >= order.stop_price if buy else mark <= order.stop_price
    if not triggered:
        return None
    return _within_limit(order, mark, slipped)


def fill_in_bar(order: OrderTicket, bar: Bar, costs: PaperCosts) -> Decimal | None:
    """The price a working order fills at within ``bar``; None when the bar does not reach it."""
    tick = Decimal(str(order.instrument.min_tick))
    buy = order.side is OrderSide.BUY
    open_, high, low = _price(bar.open), _price(bar.high), _price(bar.low)
    if order.order_type is OrderType.MARKET:
        return costs.slipped(open_, order.side, tick)
    if order.order_type is OrderType.LIMIT:
        limit = order.limit_price
        assert limit is not None
        if buy:
            return min(limit, open_) if low <= limit else None
        return max(limit, open_) if high >= limit else None
    stop = order.stop_price
    assert stop is not None
    if buy and high >= stop:
        triggered_at = max(stop, open_)
    elif not buy and low <= stop:
        triggered_at = min(stop, open_)
    else:
        return None
    return _within_limit(order, triggered_at, costs.slipped(triggered_at, order.side, tick))


def fill_priority(order: OrderTicket) -> int:
    """Which of several orders triggered by one bar fills first: stops before limits (the cautious view)."""
    return 0 if order.order_type in {OrderType.STOP, OrderType.STOP_LIMIT} else 1
