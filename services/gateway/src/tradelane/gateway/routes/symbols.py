"""``/api/symbols`` (search, details, cache) and ``/api/ib/status``, answered by market-data over NATS.

The gateway holds no symbol data: each route is one NATS request to the market-data
service, whose reply either carries the answer or says why there is none
(``SymbolServiceError``), which becomes the HTTP status. When no market-data process
answers, the route says so with a 503.
"""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import APIRouter, Body, HTTPException, Path, Query, status
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from tradelane.contracts import subjects
from tradelane.contracts.envelope import Contract
from tradelane.contracts.fields import PG_INT_MAX
from tradelane.contracts.symbols import (
    MAX_SEARCH_RESULTS,
    BatchCacheRequest,
    BatchCacheResult,
    CacheStats,
    CacheStatsRequest,
    IbStatus,
    IbStatusRequest,
    RefreshRequest,
    RefreshResult,
    SymbolDetailsRequest,
    SymbolDetailsResult,
    SymbolSearchRequest,
    SymbolSearchResult,
    SymbolServiceError,
)
from tradelane.gateway.deps import State
from tradelane.gateway.errors import BUS_UNAVAILABLE, NOT_FOUND
from tradelane.gateway.requests import ReplyT, ServiceDidNotAnswerError, ask_service
from tradelane.gateway.state import GatewayState

router = APIRouter()


QUICK_SECONDS: Final = 5.0
"""Cache statistics and IB status: market-data answers from memory or one query."""
LOOKUP_SECONDS: Final = 20.0
"""Search and details may wait for IB (its own timeouts are shorter)."""
BATCH_SECONDS: Final = 120.0
"""A batch or refresh asks IB once per contract, paced to IB's limits."""

_STATUS_OF_ERROR: Final = {
    "not_found": status.HTTP_404_NOT_FOUND,
    "unavailable": status.HTTP_503_SERVICE_UNAVAILABLE,
}
"""Errors that are no fault of one field; the others ('invalid_request', 'provider_error') are a 422 at the field."""


async def _ask(state: GatewayState, subject: str, request: Contract, reply: type[ReplyT], seconds: float) -> ReplyT:
    """One request to market-data; a 503 naming the problem when nobody answers in time."""
    try:
        return await ask_service(state, "market-data", subject, request, reply, seconds)
    except ServiceDidNotAnswerError as error:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, f"{error}; check that it is running and retry"
        ) from error


def _raise_for(error: SymbolServiceError | None, *location: str | int) -> None:
    """The HTTP answer to a reply's error: 404 or 503, or a 422 at ``location`` (what the request sent)."""
    if error is None:
        return
    if error.kind in _STATUS_OF_ERROR:
        raise HTTPException(_STATUS_OF_ERROR[error.kind], error.message)
    context = {"ib_code": error.ib_code} if error.ib_code is not None else {}
    raise RequestValidationError(
        [{"type": error.kind, "loc": location, "msg": error.message, "input": None, "ctx": context}]
    )


def _query_error(location: str, error: ValidationError) -> RequestValidationError:
    """A model's validation error, placed at the query parameter it came from."""
    return RequestValidationError(
        [{**item, "loc": ("query", location, *item["loc"][1:])} for item in error.errors(include_url=False)]
    )


@router.get(
    "/api/symbols/search",
    tags=["symbols"],
    summary="Search symbols",
    responses=BUS_UNAVAILABLE,
)
async def search_symbols(
    state: State,
    q: Annotated[str, Query(min_length=1, max_length=64, description="Symbol or part of a name.")],
    limit: Annotated[int, Query(ge=1, le=MAX_SEARCH_RESULTS, description="Most results.")] = 10,
) -> SymbolSearchResult:
    """Instruments matching ``q``, best first, cached for the cache TTL (7 days by default).

    When IB cannot be reached, the cache answers with ``stale: true`` and a ``warning``.
    """
    try:
        request = SymbolSearchRequest(text=q, limit=limit)
    except ValidationError as error:
        raise _query_error("q", error) from error
    result = await _ask(state, subjects.SYMBOLS_SEARCH, request, SymbolSearchResult, LOOKUP_SECONDS)
    _raise_for(result.error, "query", "q")
    return result


@router.get(
    "/api/symbols/cache/stats",
    tags=["symbols"],
    summary="Symbol cache statistics",
    responses=BUS_UNAVAILABLE,
)
async def symbol_cache_stats(
    state: State,
    top_exchanges: Annotated[int, Query(ge=1, le=100, description="How many exchanges to list.")] = 10,
) -> CacheStats:
    """Entries in the cache: total, stale (older than the TTL), by asset type and by primary exchange."""
    stats = await _ask(
        state, subjects.SYMBOLS_CACHE_STATS, CacheStatsRequest(top_exchanges=top_exchanges), CacheStats, QUICK_SECONDS
    )
    _raise_for(stats.error, "query", "top_exchanges")
    return stats


@router.post(
    "/api/symbols/batch-cache",
    tags=["symbols"],
    summary="Cache contracts by conid",
    responses=BUS_UNAVAILABLE,
)
async def batch_cache_symbols(state: State, request: BatchCacheRequest) -> BatchCacheResult:
    """Fetch and cache the details of up to 100 conids; entries still fresh are skipped unless ``force``.

    Each conid gets its own status, so one unknown conid does not fail the batch.
    """
    result = await _ask(state, subjects.SYMBOLS_BATCH_CACHE, request, BatchCacheResult, BATCH_SECONDS)
    _raise_for(result.error, "body", "conids")
    return result


@router.post(
    "/api/symbols/refresh",
    tags=["symbols"],
    summary="Refresh stale cache entries",
    responses=BUS_UNAVAILABLE,
)
async def refresh_symbols(state: State, request: Annotated[RefreshRequest | None, Body()] = None) -> RefreshResult:
    """Re-fetch the stalest entries (older than the TTL), at most ``limit`` (50 by default) per call."""
    result = await _ask(state, subjects.SYMBOLS_REFRESH, request or RefreshRequest(), RefreshResult, BATCH_SECONDS)
    _raise_for(result.error, "body", "limit")
    return result


@router.get(
    "/api/symbols/{conid}",
    tags=["symbols"],
    summary="Get a contract by conid",
    responses={**NOT_FOUND, **BUS_UNAVAILABLE},
)
async def get_symbol(
    state: State, conid: Annotated[int, Path(gt=0, le=PG_INT_MAX, description="IB contract id.")]
) -> SymbolDetailsResult:
    """A contract's details: from the cache while fresh, else from the provider (and then cached)."""
    result = await _ask(
        state, subjects.SYMBOLS_DETAILS, SymbolDetailsRequest(conid=conid), SymbolDetailsResult, LOOKUP_SECONDS
    )
    _raise_for(result.error, "path", "conid")
    return result


@router.get("/api/ib/status", tags=["ib"], summary="IB connection status", responses=BUS_UNAVAILABLE)
async def ib_status(state: State) -> IbStatus:
    """Whether market-data is connected to TWS / IB Gateway, with server version, accounts and the last error.

    With the simulated provider, ``provider`` is ``simulated`` and ``connected`` is false.
    """
    return await _ask(state, subjects.IB_STATUS, IbStatusRequest(), IbStatus, QUICK_SECONDS)
