"""``/portfolio``: the account, positions with their P&L and weight, and the equity curve.

The numbers come from the REST routes' own functions (``GET /api/portfolio``,
``GET /api/positions``, ``GET /api/portfolio/snapshots``); the curve is drawn on the server
as SVG (:mod:`.equity_chart`) from the snapshots of the last seven days. The account, P&L and
positions follow the book live: ``/portfolio/stream`` tells the page when a position changed
(``trading.position.changed``), and the page fetches them again from ``/portfolio/book``
(:func:`.live.changes`); the curve gains its points on the next visit.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, StreamingResponse

from tradelane.contracts import subjects
from tradelane.gateway.book import Book
from tradelane.gateway.deps import State
from tradelane.gateway.routes import portfolio as api
from tradelane.gateway.ui import live
from tradelane.gateway.ui.dashboard import account
from tradelane.gateway.ui.equity_chart import equity_chart
from tradelane.gateway.ui.templating import render
from tradelane.gateway.ui.viewer import SignedIn

router = APIRouter(include_in_schema=False)


async def _book(book: Book) -> dict[str, Any]:
    return {"portfolio": await account(book), "positions": await api.list_positions(book, open_only=True)}


@router.get("/portfolio")
async def portfolio_page(request: Request, viewer: SignedIn, book: Book) -> HTMLResponse:
    snapshots = await api.list_snapshots(book, since=None, limit=10_000)
    context = {
        "viewer": viewer,
        "page": "portfolio",
        **await _book(book),
        "snapshots": snapshots,
        "chart": equity_chart([(snapshot.taken_at, snapshot.equity) for snapshot in snapshots]),
    }
    return render(request, "portfolio.html", context)


@router.get("/portfolio/book")
async def portfolio_book(request: Request, viewer: SignedIn, book: Book) -> HTMLResponse:
    """The account, P&L and positions again, as the page fetches them when ``/portfolio/stream`` says so."""
    return render(request, "_portfolio_book.html", {"viewer": viewer, **await _book(book)})


@router.get("/portfolio/stream")
async def portfolio_stream(request: Request, state: State) -> StreamingResponse:
    """A ``positions`` event when the page should fetch the book again: once connected, then after each burst
    of position changes."""
    return live.event_stream(live.changes(request, state.broker.connection, (subjects.POSITION_CHANGED,), "positions"))
