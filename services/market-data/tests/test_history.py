"""Bars on request: the provider's bars within the window asked for (or why there are none), and symbols resolved."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tradelane.contracts.history import BarsRequest, ResolveRequest
from tradelane.contracts.market import ResolvedSymbol
from tradelane.contracts.strategy import AssetType, BarSize, SymbolRef, duration_covering
from tradelane.market_data.history import bars_between, resolved
from tradelane.market_data.simulated import SimulatedProvider

START = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


async def test_the_bars_of_the_window_come_oldest_first_and_nothing_outside_it() -> None:
    provider = SimulatedProvider()
    btc = await provider.resolve(SymbolRef(symbol="BTC", exchange="PAXOS", asset_type=AssetType.CRYPTO))
    request = BarsRequest(symbol=btc, bar_size=BarSize.MIN_1, start=START, end=START + timedelta(minutes=90))
    reply = await bars_between(provider, request)
    assert reply.error is None
    assert [bar.time for bar in reply.bars] == [START + timedelta(minutes=i) for i in range(90)]


async def test_an_instrument_the_provider_does_not_know_is_an_error_saying_so() -> None:
    unknown = ResolvedSymbol(conid=1, symbol="NOPE", exchange="X", currency="USD", asset_type=AssetType.STOCK)
    request = BarsRequest(symbol=unknown, bar_size=BarSize.DAY_1, start=START, end=START + timedelta(days=5))
    reply = await bars_between(SimulatedProvider(), request)
    assert reply.bars == ()
    assert reply.error is not None
    assert reply.error.kind == "not_found"


async def test_a_symbol_is_resolved_as_the_pipeline_resolves_it() -> None:
    provider = SimulatedProvider()
    btc = SymbolRef(symbol="BTC", exchange="PAXOS", asset_type=AssetType.CRYPTO)
    reply = await resolved(provider, ResolveRequest(symbol=btc))
    assert (reply.symbol, reply.error) == (await provider.resolve(btc), None)


async def test_a_symbol_the_provider_does_not_know_is_an_error_saying_so() -> None:
    reply = await resolved(SimulatedProvider(), ResolveRequest(symbol=SymbolRef(symbol="NOPE")))
    assert reply.symbol is None
    assert reply.error is not None
    assert reply.error.kind == "not_found"


def test_a_window_is_asked_for_in_the_shortest_ib_duration_that_covers_it() -> None:
    """Seconds up to a day, days up to a year, years beyond (IB refuses more than 365 days)."""
    assert [duration_covering(seconds) for seconds in (0.5, 5400, 86_400, 86_401, 90 * 86_400, 366 * 86_400)] == [
        "1 S",
        "5400 S",
        "86400 S",
        "2 D",
        "90 D",
        "2 Y",
    ]
