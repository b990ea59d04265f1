"""``/orders``: working and past orders with their fills, cancel, and the manual order form.

Every action calls the REST route's own function (:mod:`tradelane.gateway.routes.orders`), so
an order is checked exactly as ``POST /api/orders`` checks it: the :class:`ManualOrder` model's
validation errors come back next to their fields, and a refusal by the risk engine (a 409
naming the rule) or an unavailable broker at the top of the form. A refused order is kept in
the book as rejected, so the lists are refreshed with every answer.

The form carries a ``client_order_id`` made when it is drawn: a double submit, or a retry after
a timeout, never places a second order. A refused order used its id up (sending it again would
answer with the refusal), so the form drawn after a refusal has a new one.

The lists follow the book live: ``/orders/stream`` tells the page when an order event
(``trading.order.>``) was published, and the page fetches the lists again from
``/orders/tables`` (:func:`.live.changes`). Every request that draws the lists carries the
status filter, so an answer or a refresh never shows a different history than the one asked for.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated, Any, Final
from urllib.parse import urlencode
from uuid import UUID, uuid4

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, StreamingResponse
from pydantic import ValidationError

from tradelane.contracts import subjects
from tradelane.contracts.strategy import AssetType, SymbolRef
from tradelane.contracts.trading import ManualOrder, OrderSide, OrderStatus, OrderType, TimeInForce
from tradelane.gateway.book import Book
from tradelane.gateway.deps import State
from tradelane.gateway.routes import orders as api
from tradelane.gateway.routes.orders import OrderOut
from tradelane.gateway.ui import live
from tradelane.gateway.ui.forms import ALL, FORM_LEVEL, field_errors, form_values, nested
from tradelane.gateway.ui.templating import render
from tradelane.gateway.ui.viewer import SignedIn, Viewer

router = APIRouter(include_in_schema=False)

Shown = Annotated[OrderStatus | None, ALL]
"""The history's status filter (``?status=``; empty: every status)."""
LISTED: Final = 100
WORKING: Final = tuple(order_status for order_status in OrderStatus if not order_status.terminal)
FIELDS: Final = (
    "instrument",
    "instrument.symbol",
    "instrument.exchange",
    "instrument.currency",
    "instrument.asset_type",
    "side",
    "order_type",
    "quantity",
    "limit_price",
    "stop_price",
    "tif",
    "take_profit",
    "stop_loss",
    "client_order_id",
)
REQUIRED: Final = ("instrument.symbol", "side", "quantity")
_INSTRUMENT_DEFAULTS: Final = SymbolRef.model_fields
NEW_ORDER: Final = {
    "instrument.exchange": str(_INSTRUMENT_DEFAULTS["exchange"].default),
    "instrument.currency": str(_INSTRUMENT_DEFAULTS["currency"].default),
    "instrument.asset_type": str(_INSTRUMENT_DEFAULTS["asset_type"].default),
    "side": OrderSide.BUY.value,
    "order_type": str(ManualOrder.model_fields["order_type"].default),
    "tif": str(ManualOrder.model_fields["tif"].default),
}
"""The form as it first appears: the API's defaults."""
CHOICES: Final = {
    "asset_types": [asset_type.value for asset_type in AssetType],
    "sides": [side.value for side in OrderSide],
    "order_types": [order_type.value for order_type in OrderType],
    "tifs": [tif.value for tif in TimeInForce],
}


def _new_client_order_id() -> str:
    return uuid4().hex[:20]


async def working_orders(book: Book) -> list[OrderOut]:
    """Every order not yet filled, cancelled or rejected, newest first (one listing per working status)."""
    found = [
        order
        for order_status in WORKING
        for order in await api.list_orders(book, status=order_status, strategy_id=None, limit=500, offset=0)
    ]
    return sorted(found, key=lambda order: (order.created_at is not None, order.created_at), reverse=True)


async def _lists(book: Book, shown: OrderStatus | None) -> dict[str, Any]:
    """The working orders and the history under the filter, with the query that asks for that filter again."""
    return {
        "working": await working_orders(book),
        "orders": await api.list_orders(book, status=shown, strategy_id=None, limit=LISTED, offset=0),
        "shown": shown.value if shown else "",
        "query": f"?{urlencode({'status': shown.value})}" if shown else "",
        "statuses": [order_status.value for order_status in OrderStatus],
    }


def _form(values: dict[str, str], errors: dict[str, str], message: str = "") -> dict[str, Any]:
    return {"values": values, "errors": errors, "placed_message": message, **CHOICES}


def _empty_form(message: str = "") -> dict[str, Any]:
    return _form({**NEW_ORDER, "client_order_id": _new_client_order_id()}, {}, message)


@router.get("/orders")
async def orders_page(request: Request, viewer: SignedIn, book: Book, status: Shown = None) -> HTMLResponse:
    context = {"viewer": viewer, "page": "orders", "message": "", **await _lists(book, status), **_empty_form()}
    return render(request, "orders.html", context)


@router.get("/orders/tables")
async def tables(request: Request, viewer: SignedIn, book: Book, status: Shown = None) -> HTMLResponse:
    """The working orders and the history again, as the page fetches them when ``/orders/stream`` says so."""
    return render(request, "_order_tables.html", {"viewer": viewer, **await _lists(book, status)})


@router.get("/orders/stream")
async def orders_stream(request: Request, state: State) -> StreamingResponse:
    """An ``orders`` event when the page should fetch its lists again: once connected, then after each burst of
    order events."""
    return live.event_stream(live.changes(request, state.broker.connection, (subjects.ORDER_ALL,), "orders"))


def _refusal(error: Exception) -> dict[str, str]:
    """Why the API refused the order: by field for validation errors, at the top for the rest."""
    if isinstance(error, ValidationError | RequestValidationError):
        return field_errors(error.errors(), FIELDS)
    assert isinstance(error, HTTPException)
    return {FORM_LEVEL: str(error.detail)}


@router.post("/orders")
async def place(request: Request, viewer: SignedIn, book: Book, state: State, status: Shown = None) -> HTMLResponse:
    """Place from the form: a new form and the lists, or the form again with the API's refusal."""
    values = await form_values(request)
    body = nested(values, checkboxes=(), required=REQUIRED)
    try:
        placed = await api.place_order(ManualOrder.model_validate(body), state, book)
    except (ValidationError, RequestValidationError, HTTPException) as error:
        if isinstance(error, HTTPException) and error.status_code == HTTPStatus.CONFLICT:
            values = {**values, "client_order_id": _new_client_order_id()}
        form = _form(values, _refusal(error))
    else:
        entry = placed.orders[0] if placed.orders else None
        what = f"{entry.side} {entry.quantity} {entry.instrument.symbol}: {entry.status}" if entry else "no order"
        form = _empty_form(f"Placed ({what}).")
    context = {"viewer": viewer, "message": "", **await _lists(book, status), **form}
    return render(request, "_order_placed.html", context)


def _listing(request: Request, viewer: Viewer, lists: dict[str, Any], message: str, *, failed: bool) -> HTMLResponse:
    return render(request, "_order_lists.html", {"viewer": viewer, "message": message, "failed": failed, **lists})


@router.post("/orders/{order_id}/cancel")
async def cancel(
    request: Request, order_id: UUID, viewer: SignedIn, book: Book, state: State, status: Shown = None
) -> HTMLResponse:
    """As ``POST /api/orders/{id}/cancel``: the lists again, saying what the venue answered."""
    try:
        answer = await api.cancel_order(order_id, state, Response())
    except HTTPException as error:
        return _listing(request, viewer, await _lists(book, status), f"Not cancelled: {error.detail}", failed=True)
    said = "Cancelled." if answer.outcome == "cancelled" else "Cancel asked; the venue has not confirmed it yet."
    return _listing(request, viewer, await _lists(book, status), said, failed=False)


@router.get("/orders/{order_id}/fills")
async def fills(request: Request, order_id: UUID, viewer: SignedIn, book: Book) -> HTMLResponse:
    """One order's executions, fetched when its row is opened (as ``GET /api/orders/{id}``)."""
    detail = await api.get_order(order_id, book)
    return render(request, "_order_fills.html", {"viewer": viewer, "order": detail})
