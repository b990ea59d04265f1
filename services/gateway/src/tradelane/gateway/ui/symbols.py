"""``/symbols``: search with suggestions as you type, one contract's details, the cache's statistics, refresh.

Every answer comes from the REST route's own function (:mod:`tradelane.gateway.routes.symbols`),
which asks market-data over NATS; so the page shows what the API would say, including its
refusals: when market-data does not answer, or IB is unreachable, the page says so in the
API's words instead of failing.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from fastapi import APIRouter, HTTPException, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse

from tradelane.contracts.fields import PG_INT_MAX
from tradelane.contracts.symbols import CacheStats, IbStatus, RefreshRequest
from tradelane.gateway.deps import State
from tradelane.gateway.routes import symbols as api
from tradelane.gateway.ui.templating import render
from tradelane.gateway.ui.viewer import SignedIn

router = APIRouter(include_in_schema=False)

SUGGESTIONS: Final = 10
MAX_QUERY: Final = 64
"""The API's longest search text."""


def _refusal(error: HTTPException | RequestValidationError) -> str:
    if isinstance(error, RequestValidationError):
        return "; ".join(str(item["msg"]) for item in error.errors())
    return str(error.detail)


async def _cache(state: State) -> dict[str, Any]:
    """The cache card's context: statistics, or why there are none."""
    stats: CacheStats | None = None
    problem = None
    try:
        stats = await api.symbol_cache_stats(state)
    except (HTTPException, RequestValidationError) as error:
        problem = _refusal(error)
    return {"stats": stats, "cache_problem": problem}


@router.get("/symbols")
async def symbols_page(request: Request, viewer: SignedIn, state: State) -> HTMLResponse:
    connection: IbStatus | None = None
    try:
        connection = await api.ib_status(state)
    except HTTPException:
        connection = None  # the cache card says that market-data did not answer
    return render(
        request,
        "symbols.html",
        {"viewer": viewer, "page": "symbols", "connection": connection, **await _cache(state)},
    )


@router.get("/symbols/suggestions")
async def suggestions(request: Request, state: State, q: str = "") -> HTMLResponse:
    """Instruments matching what has been typed so far (nothing for an empty box)."""
    text = q.strip()[:MAX_QUERY]
    if not text:
        return render(request, "_symbol_suggestions.html", {"result": None, "problem": None, "q": text})
    try:
        result = await api.search_symbols(state, text, SUGGESTIONS)
    except (HTTPException, RequestValidationError) as error:
        return render(request, "_symbol_suggestions.html", {"result": None, "problem": _refusal(error), "q": text})
    return render(request, "_symbol_suggestions.html", {"result": result, "problem": None, "q": text})


@router.post("/symbols/refresh")
async def refresh(request: Request, viewer: SignedIn, state: State) -> HTMLResponse:
    """Re-fetch the stalest cache entries (as ``POST /api/symbols/refresh``), then the statistics again."""
    outcome = None
    problem = None
    try:
        outcome = await api.refresh_symbols(state, RefreshRequest())
    except (HTTPException, RequestValidationError) as error:
        problem = _refusal(error)
    context = {"viewer": viewer, "refreshed": outcome, "refresh_problem": problem, **await _cache(state)}
    return render(request, "_symbol_cache.html", context)


@router.get("/symbols/{conid}")
async def symbol_page(
    request: Request,
    viewer: SignedIn,
    state: State,
    conid: Annotated[int, Path(gt=0, le=PG_INT_MAX)],
) -> HTMLResponse:
    problem = None
    result = None
    try:
        result = await api.get_symbol(state, conid)
    except (HTTPException, RequestValidationError) as error:
        problem = _refusal(error)
    return render(
        request,
        "symbol.html",
        {"viewer": viewer, "page": "symbols", "conid": conid, "result": result, "problem": problem},
    )
