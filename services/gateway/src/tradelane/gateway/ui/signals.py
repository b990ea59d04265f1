"""``/signals``: every signal with its chain (the execution it came from, the order placed from it).

The rows are what ``GET /api/signals`` answers (:func:`tradelane.gateway.routes.signals.list_signals`),
read from the signals ledger. The filters are a plain GET form, so a
filtered list is a link that can be shared; a filter left at "all" is sent empty and means none.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Final
from uuid import UUID

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import HTMLResponse

from tradelane.contracts.envelope import utc_now
from tradelane.contracts.events import Action
from tradelane.gateway.book import Book
from tradelane.gateway.deps import Ledger, Strategies
from tradelane.gateway.routes import signals as api
from tradelane.gateway.routes.strategies import list_strategies
from tradelane.gateway.ui.templating import render
from tradelane.gateway.ui.viewer import SignedIn
from tradelane.store.ledger import SignalStatus

router = APIRouter(include_in_schema=False)

LISTED: Final = 100
PERIODS: Final = {
    "1h": ("last hour", timedelta(hours=1)),
    "24h": ("last 24 hours", timedelta(hours=24)),
    "7d": ("last 7 days", timedelta(days=7)),
    "30d": ("last 30 days", timedelta(days=30)),
}
"""The time filter's choices: how far back the list goes (no choice: all time)."""
OUTCOMES: Final[dict[str, SignalStatus]] = {"generated": "generated", "rejected": "rejected"}


def _refused(name: str, value: str) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"{name} {value!r} is not one of the choices")


@router.get("/signals")
async def signals_page(
    request: Request,
    viewer: SignedIn,
    ledger: Ledger,
    book: Book,
    strategies: Strategies,
    strategy_id: str = "",
    action: str = "",
    outcome: str = "",
    period: str = "",
) -> HTMLResponse:
    """The signals, newest first, filtered by strategy, action, outcome and how far back."""
    try:
        strategy = UUID(strategy_id) if strategy_id else None
        wanted = Action(action) if action else None
    except ValueError as error:
        raise _refused("strategy_id or action", f"{strategy_id} {action}") from error
    if outcome and outcome not in OUTCOMES:
        raise _refused("outcome", outcome)
    if period and period not in PERIODS:
        raise _refused("period", period)
    since = utc_now() - PERIODS[period][1] if period else None
    rows = await api.list_signals(
        ledger,
        book,
        strategy_id=strategy,
        action=wanted,
        status_=OUTCOMES.get(outcome),
        since=since,
        until=None,
        limit=LISTED,
        offset=0,
    )
    names = {stored.id: stored.definition.name for stored in await list_strategies(strategies)}
    return render(
        request,
        "signals.html",
        {
            "viewer": viewer,
            "page": "signals",
            "signals": rows,
            "names": names,
            "filters": {"strategy_id": strategy_id, "action": action, "outcome": outcome, "period": period},
            "actions": [member.value for member in Action],
            "outcomes": list(OUTCOMES),
            "periods": {key: label for key, (label, _) in PERIODS.items()},
        },
    )
