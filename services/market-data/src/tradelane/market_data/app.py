"""Wiring of the market-data service: the provider, the pipeline step, the symbol service, the stored history
backtests read, IB status and bars on request."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Annotated

import structlog

from tradelane.contracts import subjects
from tradelane.contracts.envelope import Contract
from tradelane.contracts.history import BarsReply, BarsRequest, ResolveReply, ResolveRequest
from tradelane.contracts.subjects import Step
from tradelane.contracts.symbols import (
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
)
from tradelane.ib.connection import IbConnection, IbEndpoint
from tradelane.ib.pacing import PacingLimiter, PacingRules
from tradelane.ib.provider import IbProvider
from tradelane.market_data.config import MarketDataSettings
from tradelane.market_data.handlers import BarsFetcher
from tradelane.market_data.history import bars_between, resolved
from tradelane.market_data.provider import MarketDataProvider
from tradelane.market_data.simulated import SimulatedProvider
from tradelane.market_data.stored_history import StoredHistory
from tradelane.market_data.symbol_service import SymbolService
from tradelane.runtime.injection import Context
from tradelane.runtime.service import Service
from tradelane.store.bar_history import BarHistoryRepository
from tradelane.store.migrate import migrate
from tradelane.store.pool import create_pool
from tradelane.store.symbols import SymbolRepository

log = structlog.get_logger(__name__)


def pacing_rules(settings: MarketDataSettings) -> PacingRules:
    """IB's pacing limits as configured (the defaults are IB's own)."""
    return PacingRules(
        historical_requests=settings.ib_historical_requests,
        historical_window=settings.ib_historical_window_seconds,
        identical_gap=settings.ib_identical_request_gap_seconds,
        max_in_flight=settings.ib_max_in_flight,
        messages_per_second=settings.ib_messages_per_second,
        violation_pause=settings.ib_pacing_violation_pause_seconds,
        max_wait=settings.ib_max_pacing_wait_seconds,
    )


SYMBOL_SERVICE = "symbol_service"
STORED_HISTORY = "stored_history"
"""Where the start hook leaves the symbol service and the stored history in FastStream's context."""
Symbols = Annotated[SymbolService, Context(SYMBOL_SERVICE)]
History = Annotated[StoredHistory, Context(STORED_HISTORY)]


def ib_endpoint(settings: MarketDataSettings) -> IbEndpoint:
    return IbEndpoint(
        host=settings.ib_host,
        port=settings.ib_port,
        client_id=settings.ib_client_id,
        account=settings.ib_account,
        timeout=settings.ib_timeout,
        reconnect_initial=settings.ib_reconnect_initial_seconds,
        reconnect_max=settings.ib_reconnect_max_seconds,
    )


def build(settings: MarketDataSettings | None = None) -> Service:
    """The market-data service with the configured provider (simulated unless ``TRADELANE_MARKET_DATA_PROVIDER=ib``)."""
    settings = settings or MarketDataSettings()
    service = Service("market-data", settings)
    provider: MarketDataProvider
    if settings.market_data_provider == "ib":
        connection = IbConnection(ib_endpoint(settings))
        provider = IbProvider(
            connection,
            PacingLimiter(pacing_rules(settings)),
            request_timeout=settings.ib_timeout,
            historical_timeout=settings.ib_historical_timeout,
        )
        service.on_start(connection.start)
        service.on_stop(connection.close)
    else:
        provider = SimulatedProvider()

    def stored_history() -> StoredHistory:
        history: StoredHistory = service.context.get(STORED_HISTORY)
        return history

    service.step(Step.MARKET_DATA)(BarsFetcher(provider, service.payloads, stored_history).on_execution_requested)

    @service.on_start
    async def open_database() -> None:
        """The symbol cache and the stored history, both in Postgres."""
        pool = await create_pool(settings.database_url)
        service.resources.push_async_callback(pool.close)
        await migrate(pool)
        symbols = SymbolService(
            provider,
            SymbolRepository(pool, provider.name),
            ttl=timedelta(days=settings.symbol_cache_ttl_days),
        )
        service.context.set_global(SYMBOL_SERVICE, symbols)
        service.context.set_global(STORED_HISTORY, StoredHistory(provider, BarHistoryRepository(pool, provider.name)))
        log.info("market_data_provider_selected", provider=provider.name)

    def answers(subject: str) -> Callable[[Callable[..., Awaitable[Contract]]], object]:
        """Answer core NATS requests on ``subject``; one replica of the queue group answers each."""
        subscriber: Callable[[Callable[..., Awaitable[Contract]]], object] = service.broker.subscriber(
            subject, queue=subjects.SYMBOL_SERVICE_QUEUE
        )
        return subscriber

    @answers(subjects.SYMBOLS_SEARCH)
    async def search(request: SymbolSearchRequest, symbols: Symbols) -> SymbolSearchResult:
        return await symbols.search(request)

    @answers(subjects.SYMBOLS_DETAILS)
    async def details(request: SymbolDetailsRequest, symbols: Symbols) -> SymbolDetailsResult:
        return await symbols.details(request)

    @answers(subjects.SYMBOLS_BATCH_CACHE)
    async def batch_cache(request: BatchCacheRequest, symbols: Symbols) -> BatchCacheResult:
        return await symbols.batch_cache(request)

    @answers(subjects.SYMBOLS_REFRESH)
    async def refresh(request: RefreshRequest, symbols: Symbols) -> RefreshResult:
        return await symbols.refresh(request)

    @answers(subjects.SYMBOLS_CACHE_STATS)
    async def cache_stats(request: CacheStatsRequest, symbols: Symbols) -> CacheStats:
        return await symbols.stats(request)

    @answers(subjects.IB_STATUS)
    async def ib_status(request: IbStatusRequest) -> IbStatus:
        return provider.status()

    @answers(subjects.MARKET_DATA_BARS)
    async def bars(request: BarsRequest, history: History) -> BarsReply:
        return await bars_between(provider, request, history)

    @answers(subjects.MARKET_DATA_RESOLVE)
    async def resolve(request: ResolveRequest) -> ResolveReply:
        return await resolved(provider, request)

    return service
