"""The symbol service: search, details, batch caching, refresh and statistics over a Postgres cache.

Fresh cache entries (younger than the TTL) answer without asking the provider. Otherwise the
provider answers and the cache learns; when the provider cannot be reached, whatever the
cache holds answers instead, marked ``stale`` with the reason. Failures are replies
(``SymbolServiceError``), never exceptions, so a requester always learns what went wrong.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta

import structlog

from tradelane.contracts.envelope import utc_now
from tradelane.contracts.symbols import (
    MAX_SEARCH_RESULTS,
    BatchCacheItem,
    BatchCacheRequest,
    BatchCacheResult,
    CacheStats,
    CacheStatsRequest,
    RefreshRequest,
    RefreshResult,
    SymbolDetailsRequest,
    SymbolDetailsResult,
    SymbolSearchRequest,
    SymbolSearchResult,
    SymbolServiceError,
)
from tradelane.market_data.provider import (
    MarketDataProvider,
    ProviderRequestError,
    ProviderUnavailableError,
    SymbolNotFoundError,
)
from tradelane.store.symbols import CachedSearch, CachedSymbol, SymbolRepository

log = structlog.get_logger(__name__)


class SymbolService:
    """Answers symbol requests for one provider, with one repository as its cache."""

    def __init__(
        self,
        provider: MarketDataProvider,
        repository: SymbolRepository,
        *,
        ttl: timedelta,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._provider = provider
        self._repository = repository
        self._ttl = ttl
        self._clock = clock

    @property
    def provider_name(self) -> str:
        return self._provider.name

    async def search(self, request: SymbolSearchRequest) -> SymbolSearchResult:
        """Matches for ``request.text``: a fresh cached search, else the provider's, else the cache's (stale)."""
        now = self._clock()
        cached = await self._repository.cached_search(request.text)
        if cached is not None and self._fresh(cached.fetched_at, now):
            return self._search_result(request, cached.symbols, source="cache", fetched_at=cached.fetched_at)
        try:
            found = await self._provider.search(request.text, limit=MAX_SEARCH_RESULTS)
        except ProviderUnavailableError as error:
            return await self._search_cache_instead(request, cached, str(error))
        except (ProviderRequestError, SymbolNotFoundError) as error:
            return SymbolSearchResult(text=request.text, provider=self.provider_name, error=service_error(error))
        await self._repository.save_search(request.text, found, now)
        return SymbolSearchResult(
            text=request.text,
            results=found[: request.limit],
            source="provider",
            fetched_at=now,
            provider=self.provider_name,
        )

    async def details(self, request: SymbolDetailsRequest) -> SymbolDetailsResult:
        """One contract: fresh cached details, else the provider's, else cached ones marked stale."""
        now = self._clock()
        cached = await self._repository.get(request.conid)
        if cached is not None and self._has_fresh_details(cached, now):
            return SymbolDetailsResult(
                conid=request.conid,
                details=cached.details,
                source="cache",
                fetched_at=cached.details_fetched_at,
                provider=self.provider_name,
            )
        try:
            details = await self._provider.details(request.conid)
        except ProviderUnavailableError as error:
            if cached is not None and cached.details is not None:
                return SymbolDetailsResult(
                    conid=request.conid,
                    details=cached.details,
                    source="cache",
                    stale=True,
                    fetched_at=cached.details_fetched_at,
                    provider=self.provider_name,
                    warning=f"answered from the cache: {error}",
                )
            return SymbolDetailsResult(conid=request.conid, provider=self.provider_name, error=service_error(error))
        except (SymbolNotFoundError, ProviderRequestError) as error:
            return SymbolDetailsResult(conid=request.conid, provider=self.provider_name, error=service_error(error))
        await self._repository.save_details(details, now)
        return SymbolDetailsResult(
            conid=request.conid, details=details, source="provider", fetched_at=now, provider=self.provider_name
        )

    async def batch_cache(self, request: BatchCacheRequest) -> BatchCacheResult:
        """Fetch and cache each conid's details; fresh entries are skipped unless ``force``."""
        now = self._clock()
        existing = await self._repository.get_many(request.conids)

        async def one(conid: int) -> BatchCacheItem:
            entry = existing.get(conid)
            if not request.force and entry is not None and self._has_fresh_details(entry, now):
                return BatchCacheItem(conid=conid, status="fresh", symbol=entry.summary.symbol)
            return await self._fetch_into_cache(conid, now, forget_unknown=False)

        items = tuple(await asyncio.gather(*(one(conid) for conid in request.conids)))
        log.info("symbols_batch_cached", conids=len(items), fetched=_count(items, "fetched"))
        return BatchCacheResult(
            items=items,
            fetched=_count(items, "fetched"),
            fresh=_count(items, "fresh"),
            failed=len(items) - _count(items, "fetched", "fresh"),
            provider=self.provider_name,
        )

    async def refresh(self, request: RefreshRequest) -> RefreshResult:
        """Re-fetch up to ``request.limit`` stale entries, stalest first; entries the provider no longer knows go."""
        now = self._clock()
        stale_before = now - self._ttl
        conids = await self._repository.stalest(stale_before, request.limit)
        items = tuple(
            await asyncio.gather(*(self._fetch_into_cache(conid, now, forget_unknown=True) for conid in conids))
        )
        remaining = await self._repository.count_stale(stale_before)
        log.info("symbols_refreshed", tried=len(items), refreshed=_count(items, "fetched"), remaining=remaining)
        return RefreshResult(
            refreshed=_count(items, "fetched"),
            items=items,
            remaining_stale=remaining,
            provider=self.provider_name,
        )

    async def stats(self, request: CacheStatsRequest) -> CacheStats:
        """Totals, stale entries, and counts by asset type and by primary exchange."""
        statistics = await self._repository.statistics(self._clock() - self._ttl, request.top_exchanges)
        return CacheStats(
            provider=self.provider_name,
            total=statistics.total,
            stale=statistics.stale,
            with_details=statistics.with_details,
            ttl_seconds=self._ttl.total_seconds(),
            by_asset_type=statistics.by_asset_type,
            by_exchange=statistics.by_exchange,
            oldest=statistics.oldest,
            newest=statistics.newest,
        )

    async def _fetch_into_cache(self, conid: int, now: datetime, *, forget_unknown: bool) -> BatchCacheItem:
        try:
            details = await self._provider.details(conid)
        except SymbolNotFoundError as error:
            message = str(error)
            if forget_unknown and await self._repository.delete(conid):
                message += "; removed from the cache"
            return BatchCacheItem(conid=conid, status="not_found", message=message, ib_code=error.code)
        except ProviderRequestError as error:
            return BatchCacheItem(conid=conid, status="failed", message=str(error), ib_code=error.code)
        except ProviderUnavailableError as error:
            return BatchCacheItem(conid=conid, status="unavailable", message=str(error))
        await self._repository.save_details(details, now)
        return BatchCacheItem(conid=conid, status="fetched", symbol=details.symbol)

    async def _search_cache_instead(
        self, request: SymbolSearchRequest, cached: CachedSearch | None, reason: str
    ) -> SymbolSearchResult:
        fetched_at: datetime | None
        if cached is not None:
            symbols, fetched_at = cached.symbols, cached.fetched_at
        else:
            symbols = await self._repository.match(request.text, request.limit)
            fetched_at = min((symbol.fetched_at for symbol in symbols), default=None)
        if not symbols:
            message = f"{reason}; the cache has nothing matching {request.text!r} either"
            return SymbolSearchResult(
                text=request.text,
                provider=self.provider_name,
                error=SymbolServiceError(kind="unavailable", message=message),
            )
        log.info("symbol_search_answered_from_cache", text=request.text, results=len(symbols), reason=reason)
        return self._search_result(
            request, symbols, source="cache", fetched_at=fetched_at, warning=f"answered from the cache: {reason}"
        )

    def _search_result(
        self,
        request: SymbolSearchRequest,
        symbols: list[CachedSymbol],
        *,
        source: str,
        fetched_at: datetime | None,
        warning: str | None = None,
    ) -> SymbolSearchResult:
        return SymbolSearchResult.model_validate(
            {
                "text": request.text,
                "results": [symbol.summary for symbol in symbols[: request.limit]],
                "source": source,
                "stale": warning is not None,
                "fetched_at": fetched_at,
                "provider": self.provider_name,
                "warning": warning,
            }
        )

    def _fresh(self, fetched_at: datetime, now: datetime) -> bool:
        return fetched_at > now - self._ttl

    def _has_fresh_details(self, entry: CachedSymbol, now: datetime) -> bool:
        return (
            entry.details is not None
            and entry.details_fetched_at is not None
            and self._fresh(entry.details_fetched_at, now)
        )


def service_error(error: Exception) -> SymbolServiceError:
    """What a provider failure means to whoever asked: not found, refused by the provider, or unavailable."""
    if isinstance(error, SymbolNotFoundError):
        return SymbolServiceError(kind="not_found", message=str(error), ib_code=error.code)
    if isinstance(error, ProviderRequestError):
        return SymbolServiceError(kind="provider_error", message=str(error), ib_code=error.code)
    return SymbolServiceError(kind="unavailable", message=str(error))


def _count(items: tuple[BatchCacheItem, ...], *statuses: str) -> int:
    return sum(1 for item in items if item.status in statuses)
