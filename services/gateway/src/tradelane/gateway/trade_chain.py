"""An execution's order → fills → position chain, through the orders and positions routes' own functions.

Orders carry the execution that caused them (their signal's), so the chain is the execution's
orders, each with its fills, and the position each order's instrument holds now. An execution
whose signal was not traded (a HOLD, a rejection, a strategy that does not auto-trade) has none.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final
from uuid import UUID

from tradelane.gateway.book import Book
from tradelane.gateway.routes.orders import OrderDetailOut, get_order, list_orders
from tradelane.gateway.routes.portfolio import PositionOut, list_positions

ORDERS_SHOWN: Final = 50


@dataclass(frozen=True)
class TradeChain:
    orders: list[OrderDetailOut]
    positions: list[PositionOut]
    """The current position of every instrument the orders traded (closed ones included)."""


async def trade_chain(book: Book, execution_id: UUID) -> TradeChain:
    listed = await list_orders(book, execution_id=execution_id, limit=ORDERS_SHOWN)
    orders = [await get_order(order.id, book) for order in reversed(listed)]
    traded = {order.instrument.conid for order in orders if order.fills}
    positions = [p for p in await list_positions(book, open_only=False) if p.conid in traded] if traded else []
    return TradeChain(orders=orders, positions=positions)
