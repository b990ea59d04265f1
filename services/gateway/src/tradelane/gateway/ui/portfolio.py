"""``/portfolio``: the account, positions with their P&L and weight, and the equity curve.

The numbers come from the REST routes' own functions (``GET /api/portfolio``,
``GET /api/positions``, ``GET /api/portfolio/snapshots``); the curve is drawn on the server
as SVG (:mod:`.equity_chart`) from the snapshots of the last seven days.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from tradelane.gateway.book import Book
from tradelane.gateway.routes import portfolio as api
from tradelane.gateway.ui.dashboard import account
from tradelane.gateway.ui.equity_chart import equity_chart
from tradelane.gateway.ui.templating import render
from tradelane.gateway.ui.viewer import SignedIn

router = APIRouter(include_in_schema=False)


@router.get("/portfolio")
async def portfolio_page(request: Request, viewer: SignedIn, book: Book) -> HTMLResponse:
    snapshots = await api.list_snapshots(book, since=None, limit=10_000)
    context = {
        "viewer": viewer,
        "page": "portfolio",
        "portfolio": await account(book),
        "positions": await api.list_positions(book, open_only=True),
        "snapshots": snapshots,
        "chart": equity_chart([(snapshot.taken_at, snapshot.equity) for snapshot in snapshots]),
    }
    return render(request, "portfolio.html", context)
