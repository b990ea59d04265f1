"""``/api/orders``: the book's orders, manual orders (checked by the broker's risk engine) and cancels."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Final
from uuid import UUID, uuid4

from fastapi import APIRouter, Body, HTTPException, Query, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field

from tradelane.contracts import subjects
from tradelane.contracts.book import OrderRecord
from tradelane.contracts.fields import PG_INT_MAX, PlainDecimal
from tradelane.contracts.market import ResolvedSymbol
from tradelane.contracts.trading import (
    CancelOrder,
    CancelReply,
    Fill,
    ManualOrder,
    OrderPlaced,
    OrderRole,
    OrderSide,
    OrderStatus,
    OrderType,
    PlaceOrder,
    TimeInForce,
    Venue,
)
from tradelane.gateway.book import Book
from tradelane.gateway.deps import State
from tradelane.gateway.errors import BUS_UNAVAILABLE, NOT_FOUND
from tradelane.gateway.requests import ServiceDidNotAnswerError, ask_service
from tradelane.gateway.schemas import ErrorOut
from tradelane.store.book.reads import BookReads

router = APIRouter(prefix="/api/orders", tags=["orders"])

COMMAND_SECONDS: Final = 15.0
CONFLICT: dict[int | str, dict[str, object]] = {status.HTTP_409_CONFLICT: {"model": ErrorOut}}
TIMEOUT: dict[int | str, dict[str, object]] = {status.HTTP_504_GATEWAY_TIMEOUT: {"model": ErrorOut}}

ORDER_EXAMPLES: dict[str, Any] = {
    "market": {
        "summary": "Buy 10 AAPL at the market",
        "value": {"instrument": {"symbol": "AAPL", "exchange": "SMART"}, "side": "BUY", "quantity": "10"},
    },
    "bracket": {
        "summary": "A limit entry with a take-profit and a stop-loss (one OCA group)",
        "value": {
            "instrument": {"symbol": "BTC", "exchange": "PAXOS", "asset_type": "CRYPTO"},
            "side": "BUY",
            "order_type": "LMT",
            "quantity": "0.1",
            "limit_price": "60000",
            "take_profit": "61200",
            "stop_loss": "59400",
            "tif": "GTC",
            "client_order_id": "my-btc-entry-1",
        },
    },
}


class OrderOut(BaseModel):
    """One order: what was asked, and where it stands (moved only by the venue's events)."""

    id: UUID
    client_ref: str = Field(description="Client reference (IB orderRef), derived from the signal or client_order_id.")
    group_ref: str = Field(description="The bracket (or single order) it belongs to.")
    parent_ref: str | None
    oca_group: str | None
    role: OrderRole
    source: str = Field(description="'signal' (auto-trading strategy) or 'manual'.")
    venue: Venue
    instrument: ResolvedSymbol
    side: OrderSide
    order_type: OrderType
    quantity: PlainDecimal
    limit_price: PlainDecimal | None
    stop_price: PlainDecimal | None
    tif: TimeInForce
    status: OrderStatus
    filled_quantity: PlainDecimal
    average_price: PlainDecimal | None
    commission: PlainDecimal
    broker_order_id: str | None
    reject_rule: str | None = Field(description="The risk rule that refused it.")
    reject_code: int | None = Field(description="The venue's (IB's) error code when it refused it.")
    reason: str | None
    sizing: str = Field(description="How the quantity was reached.")
    execution_id: UUID
    strategy_id: UUID
    signal_id: UUID | None
    created_at: datetime | None
    updated_at: datetime | None

    @classmethod
    def of(cls, order: OrderRecord) -> OrderOut:
        ticket = order.ticket
        return cls(
            id=order.id,
            client_ref=ticket.client_ref,
            group_ref=order.group_ref,
            parent_ref=ticket.parent_ref,
            oca_group=ticket.oca_group,
            role=ticket.role,
            source=order.source,
            venue=order.venue,
            instrument=ticket.instrument,
            side=ticket.side,
            order_type=ticket.order_type,
            quantity=ticket.quantity,
            limit_price=ticket.limit_price,
            stop_price=ticket.stop_price,
            tif=ticket.tif,
            status=order.status,
            filled_quantity=order.filled_quantity,
            average_price=order.average_price,
            commission=order.commission,
            broker_order_id=order.broker_order_id,
            reject_rule=order.reject_rule,
            reject_code=order.reject_code,
            reason=order.reason,
            sizing=order.sizing,
            execution_id=order.execution_id,
            strategy_id=order.strategy_id,
            signal_id=order.signal_id,
            created_at=order.created_at,
            updated_at=order.updated_at,
        )


class OrderDetailOut(OrderOut):
    """An order with its executions."""

    fills: list[Fill]


class PlacedOut(BaseModel):
    """A manual order (or bracket) was recorded and sent to the venue."""

    client_order_id: str = Field(description="Your idempotency key (generated when you sent none).")
    orders: list[OrderOut] = Field(description="The entry first, then a bracket's take-profit and stop-loss.")


class CancelOut(BaseModel):
    """The venue cancelled the order, or was asked and has not confirmed yet."""

    outcome: str = Field(examples=["cancelled", "pending_cancel"])
    status: OrderStatus | None


def order_not_found(order_id: UUID) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, f"no order with id {order_id}; list orders with GET /api/orders")


async def _orders(book: BookReads, ids: tuple[UUID, ...]) -> list[OrderOut]:
    found = [await book.order(order_id) for order_id in ids]
    return [OrderOut.of(order) for order in found if order is not None]


@router.get("", summary="List orders")
async def list_orders(
    book: Book,
    status: OrderStatus | None = None,
    strategy_id: UUID | None = None,
    execution_id: Annotated[
        UUID | None, Query(description="Only the orders of this execution (its signal's bracket).")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=PG_INT_MAX)] = 0,
) -> list[OrderOut]:
    """Most recent first, optionally in one status, of one strategy or of one execution."""
    orders = await book.orders(
        status=status, strategy_id=strategy_id, execution_id=execution_id, limit=limit, offset=offset
    )
    return [OrderOut.of(order) for order in orders]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Place a manual order",
    responses={**CONFLICT, **BUS_UNAVAILABLE, **TIMEOUT},
)
async def place_order(
    order: Annotated[ManualOrder, Body(openapi_examples=ORDER_EXAMPLES)], state: State, book: Book
) -> PlacedOut:
    """Check the order against the risk engine and send it; a bracket when take_profit or stop_loss is set.

    Sending the same ``client_order_id`` again never places a second order: it answers with the
    first one. A refusal by the risk engine is a 409 naming the rule, and the refused order is
    kept in the book.
    """
    client_order_id = order.client_order_id or uuid4().hex[:20]
    command = PlaceOrder(order=order, client_order_id=client_order_id)
    try:
        placed = await ask_service(state, "broker", subjects.BROKER_PLACE_ORDER, command, OrderPlaced, COMMAND_SECONDS)
    except ServiceDidNotAnswerError as error:
        raise HTTPException(
            status.HTTP_504_GATEWAY_TIMEOUT,
            f"{error}; the order may still be placed: POST it again with client_order_id {client_order_id!r} "
            "(it is never placed twice) to learn its outcome",
        ) from error
    if placed.outcome == "unavailable":
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, placed.reason)
    if placed.outcome == "rejected" and placed.rule == "unknown_instrument":
        raise RequestValidationError(
            [{"type": "value_error", "loc": ("body", "instrument"), "msg": placed.reason, "input": None}]
        )
    if placed.outcome == "rejected":
        what = f"refused by the risk engine ({placed.rule})" if placed.rule else "refused by the venue"
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"{what}: {placed.reason} (order {placed.order_ids[0] if placed.order_ids else '-'} is kept as rejected)",
        )
    return PlacedOut(client_order_id=client_order_id, orders=await _orders(book, placed.order_ids))


@router.get("/{order_id}", summary="Get an order with its fills", responses=NOT_FOUND)
async def get_order(order_id: UUID, book: Book) -> OrderDetailOut:
    order = await book.order(order_id)
    if order is None:
        raise order_not_found(order_id)
    return OrderDetailOut(**OrderOut.of(order).model_dump(), fills=await book.fills(order.client_ref))


@router.post(
    "/{order_id}/cancel",
    summary="Cancel an order",
    responses={
        status.HTTP_202_ACCEPTED: {"model": CancelOut, "description": "Asked; the venue has not confirmed yet."},
        **NOT_FOUND,
        **CONFLICT,
        **BUS_UNAVAILABLE,
        **TIMEOUT,
    },
)
async def cancel_order(order_id: UUID, state: State, response: Response) -> CancelOut:
    """Ask the venue to cancel; only a cancel the venue confirmed is reported as done.

    A cancel the venue refuses (the order filled meanwhile, IB says it cannot be cancelled) is a
    409 with the venue's reason; one it has not confirmed yet is a 202 ``pending_cancel``.
    """
    try:
        cancel = CancelOrder(order_id=order_id)
        reply = await ask_service(state, "broker", subjects.BROKER_CANCEL_ORDER, cancel, CancelReply, COMMAND_SECONDS)
    except ServiceDidNotAnswerError as error:
        raise HTTPException(
            status.HTTP_504_GATEWAY_TIMEOUT, f"{error}; see the order's status with GET /api/orders/{order_id}"
        ) from error
    if reply.outcome == "not_found":
        raise order_not_found(order_id)
    if reply.outcome == "refused":
        raise HTTPException(status.HTTP_409_CONFLICT, f"the cancel was refused: {reply.reason}")
    if reply.outcome == "unavailable":
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, reply.reason)
    if reply.outcome == "pending_cancel":
        response.status_code = status.HTTP_202_ACCEPTED
    return CancelOut(outcome=reply.outcome, status=reply.status)
