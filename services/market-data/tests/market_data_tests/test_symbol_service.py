"""The symbol service over a real Postgres cache, with IB (the fake TWS) or the simulated provider behind it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from market_data_tests.tws_fixtures import ES_JUNE, EURUSD, SPY
from tests.support.waiting import eventually
from tradelane.contracts.strategy import AssetType
from tradelane.contracts.symbols import (
    BatchCacheRequest,
    CacheStatsRequest,
    RefreshRequest,
    SymbolDetailsRequest,
    SymbolSearchRequest,
)
from tradelane.ib.connection import IbConnection
from tradelane.ib.provider import IbProvider
from tradelane.ib.testing import AAPL, FakeTws, In
from tradelane.market_data.simulated import SimulatedProvider
from tradelane.market_data.symbol_service import SymbolService
from tradelane.store.symbols import SymbolRepository

TTL = timedelta(days=7)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def symbols(provider: IbProvider, pool: asyncpg.Pool[Any], clock: Clock) -> SymbolService:
    return SymbolService(provider, SymbolRepository(pool, provider.name), ttl=TTL, clock=clock)


async def cut_ib(tws: FakeTws, connection: IbConnection) -> None:
    """Stop the fake TWS and wait until the connection knows."""
    await tws.stop()
    await eventually(lambda: not connection.connected, "the connection to notice TWS stopped", timeout=5)


async def test_a_search_asks_ib_then_a_repeat_is_answered_from_the_cache(symbols: SymbolService, tws: FakeTws) -> None:
    first = await symbols.search(SymbolSearchRequest(text="aapl"))
    again = await symbols.search(SymbolSearchRequest(text=" AAPL "))
    assert [hit.conid for hit in first.results] == [AAPL.conid]
    assert (first.source, again.source, again.stale) == ("provider", "cache", False)
    assert again.results == first.results
    assert len(tws.requests_of(In.REQ_MATCHING_SYMBOLS)) == 1


async def test_a_search_older_than_the_ttl_asks_ib_again(symbols: SymbolService, tws: FakeTws, clock: Clock) -> None:
    await symbols.search(SymbolSearchRequest(text="AAPL"))
    clock.now += TTL + timedelta(minutes=1)
    assert (await symbols.search(SymbolSearchRequest(text="AAPL"))).source == "provider"
    assert len(tws.requests_of(In.REQ_MATCHING_SYMBOLS)) == 2


async def test_a_search_respects_the_limit(symbols: SymbolService) -> None:
    assert len((await symbols.search(SymbolSearchRequest(text="ES", limit=1))).results) == 1


async def test_while_ib_is_unreachable_a_search_answers_from_the_cache_marked_stale(
    symbols: SymbolService, tws: FakeTws, connection: IbConnection, clock: Clock
) -> None:
    await symbols.search(SymbolSearchRequest(text="AAPL"))
    await cut_ib(tws, connection)
    clock.now += TTL + timedelta(days=1)
    result = await symbols.search(SymbolSearchRequest(text="AAPL"))
    assert (result.source, result.stale, result.error) == ("cache", True, None)
    assert [hit.conid for hit in result.results] == [AAPL.conid]
    assert result.warning is not None
    assert "not connected to TWS" in result.warning


async def test_while_ib_is_unreachable_a_new_text_matches_cached_symbols(
    symbols: SymbolService, tws: FakeTws, connection: IbConnection
) -> None:
    await symbols.search(SymbolSearchRequest(text="SPY"))
    await symbols.search(SymbolSearchRequest(text="AAPL"))
    await cut_ib(tws, connection)
    result = await symbols.search(SymbolSearchRequest(text="spdr"))
    assert ([hit.symbol for hit in result.results], result.stale) == (["SPY"], True)


async def test_while_ib_is_unreachable_an_empty_cache_says_unavailable(
    symbols: SymbolService, tws: FakeTws, connection: IbConnection
) -> None:
    await cut_ib(tws, connection)
    result = await symbols.search(SymbolSearchRequest(text="AAPL"))
    assert result.error is not None
    assert result.error.kind == "unavailable"
    assert "the cache has nothing matching 'AAPL' either" in result.error.message


async def test_details_are_fetched_once_and_then_served_from_the_cache(symbols: SymbolService, tws: FakeTws) -> None:
    first = await symbols.details(SymbolDetailsRequest(conid=EURUSD.conid))
    again = await symbols.details(SymbolDetailsRequest(conid=EURUSD.conid))
    assert first.details is not None
    assert (first.details.asset_type, first.details.min_tick, first.source) == (AssetType.FOREX, 0.00005, "provider")
    assert (again.details, again.source) == (first.details, "cache")
    assert len(tws.requests_of(In.REQ_CONTRACT_DETAILS)) == 1


async def test_a_search_hit_alone_does_not_count_as_cached_details(symbols: SymbolService, tws: FakeTws) -> None:
    await symbols.search(SymbolSearchRequest(text="AAPL"))
    result = await symbols.details(SymbolDetailsRequest(conid=AAPL.conid))
    assert (result.source, len(tws.requests_of(In.REQ_CONTRACT_DETAILS))) == ("provider", 1)


async def test_details_of_an_unknown_conid_are_not_found_with_ibs_code(symbols: SymbolService) -> None:
    result = await symbols.details(SymbolDetailsRequest(conid=424242))
    assert result.error is not None
    assert (result.error.kind, result.error.ib_code) == ("not_found", 200)
    assert "conid 424242" in result.error.message


async def test_while_ib_is_unreachable_details_come_from_the_cache_marked_stale(
    symbols: SymbolService, tws: FakeTws, connection: IbConnection, clock: Clock
) -> None:
    await symbols.details(SymbolDetailsRequest(conid=AAPL.conid))
    await cut_ib(tws, connection)
    clock.now += TTL * 2
    result = await symbols.details(SymbolDetailsRequest(conid=AAPL.conid))
    assert (result.source, result.stale) == ("cache", True)
    assert result.details is not None
    assert result.details.symbol == "AAPL"
    missing = await symbols.details(SymbolDetailsRequest(conid=SPY.conid))
    assert missing.error is not None
    assert missing.error.kind == "unavailable"


async def test_a_batch_fetches_what_is_missing_and_reports_each_conid(symbols: SymbolService, tws: FakeTws) -> None:
    await symbols.details(SymbolDetailsRequest(conid=AAPL.conid))
    result = await symbols.batch_cache(BatchCacheRequest(conids=(AAPL.conid, SPY.conid, 424242, SPY.conid)))
    assert [(item.conid, item.status) for item in result.items] == [
        (AAPL.conid, "fresh"),
        (SPY.conid, "fetched"),
        (424242, "not_found"),
    ]
    assert (result.fetched, result.fresh, result.failed) == (1, 1, 1)
    assert result.items[2].ib_code == 200


async def test_a_forced_batch_fetches_fresh_entries_too(symbols: SymbolService) -> None:
    await symbols.batch_cache(BatchCacheRequest(conids=(AAPL.conid,)))
    result = await symbols.batch_cache(BatchCacheRequest(conids=(AAPL.conid,), force=True))
    assert [item.status for item in result.items] == ["fetched"]


async def test_refresh_takes_the_stalest_entries_up_to_the_cap(
    symbols: SymbolService, clock: Clock, tws: FakeTws
) -> None:
    for conid in (AAPL.conid, SPY.conid, EURUSD.conid):
        await symbols.details(SymbolDetailsRequest(conid=conid))
        clock.now += timedelta(hours=1)
    clock.now += TTL
    result = await symbols.refresh(RefreshRequest(limit=2))
    assert [(item.conid, item.status) for item in result.items] == [(AAPL.conid, "fetched"), (SPY.conid, "fetched")]
    assert (result.refreshed, result.remaining_stale) == (2, 1)
    assert (await symbols.refresh(RefreshRequest())).remaining_stale == 0


async def test_refresh_forgets_entries_ib_no_longer_knows(symbols: SymbolService, clock: Clock, tws: FakeTws) -> None:
    await symbols.details(SymbolDetailsRequest(conid=ES_JUNE.conid))
    tws.contracts.remove(ES_JUNE)
    clock.now += TTL * 2
    result = await symbols.refresh(RefreshRequest())
    assert [item.status for item in result.items] == ["not_found"]
    assert result.items[0].message is not None
    assert result.items[0].message.endswith("removed from the cache")
    assert (await symbols.stats(CacheStatsRequest())).total == 0


async def test_stats_count_entries_by_staleness_type_and_exchange(symbols: SymbolService, clock: Clock) -> None:
    await symbols.search(SymbolSearchRequest(text="ACME"))
    clock.now += TTL * 2
    await symbols.batch_cache(BatchCacheRequest(conids=(AAPL.conid, SPY.conid, EURUSD.conid)))
    stats = await symbols.stats(CacheStatsRequest())
    assert (stats.provider, stats.total, stats.stale, stats.with_details) == ("ib", 5, 2, 3)
    assert stats.by_asset_type == {"STK": 3, "CASH": 1, "ETF": 1}
    assert stats.by_exchange == {"ARCA": 2, "NASDAQ": 1, "NYSE": 1}
    assert stats.ttl_seconds == TTL.total_seconds()
    assert stats.oldest is not None
    assert stats.newest == clock.now


async def test_the_simulated_provider_answers_searches_from_its_universe(pool: asyncpg.Pool[Any]) -> None:
    provider = SimulatedProvider()
    symbols = SymbolService(provider, SymbolRepository(pool, provider.name), ttl=TTL)
    result = await symbols.search(SymbolSearchRequest(text="s&p 500"))
    assert [hit.symbol for hit in result.results] == ["SPY", "ES", "SPX"]
    details = await symbols.details(SymbolDetailsRequest(conid=result.results[0].conid))
    assert details.details is not None
    assert details.details.description == "SPDR S&P 500 ETF TRUST"


async def test_caches_of_different_providers_do_not_mix(pool: asyncpg.Pool[Any], symbols: SymbolService) -> None:
    await symbols.search(SymbolSearchRequest(text="AAPL"))
    simulated = SimulatedProvider()
    stats = await SymbolService(simulated, SymbolRepository(pool, simulated.name), ttl=TTL).stats(CacheStatsRequest())
    assert stats.total == 0
