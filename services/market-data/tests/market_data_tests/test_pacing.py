"""The shared pacing limiter: bursts are spread out to IB's rules, nothing is dropped."""

from __future__ import annotations

import asyncio
import time

import pytest

from market_data_tests.tws_fixtures import AS_OF, EURUSD, SPY
from tradelane.contracts.market import ResolvedSymbol
from tradelane.contracts.strategy import AssetType, BarSize
from tradelane.ib.connection import IbConnection
from tradelane.ib.pacing import (
    HistoricalRequest,
    PacingDelayError,
    PacingLimiter,
    PacingRules,
    SlidingWindow,
)
from tradelane.ib.provider import IbProvider
from tradelane.ib.testing import AAPL, FakeTws, In


def request(conid: int = 1, duration: str = "1 Y", what_to_show: str = "TRADES") -> HistoricalRequest:
    return HistoricalRequest(conid, "SMART", what_to_show, "1 day", duration, "20260302 22:00:00 UTC", True)


async def admitted_times(limiter: PacingLimiter, requests: list[HistoricalRequest]) -> list[float]:
    """Send every request through the limiter at once; when each got through."""
    times: list[float] = []

    async def one(item: HistoricalRequest) -> None:
        async with limiter.historical(item):
            times.append(time.monotonic())

    await asyncio.gather(*(one(item) for item in requests))
    return sorted(times)


def most_within(times: list[float], span: float, slack: float = 0.1) -> int:
    """The largest number of times inside any window of ``span`` seconds.

    The times are taken after admission (and its log line), so windows are checked ``slack`` short.
    """
    return max(sum(1 for other in times if start <= other < start + span * (1 - slack)) for start in times)


def test_a_sliding_window_waits_until_its_oldest_event_leaves() -> None:
    window = SlidingWindow(limit=2, span=10.0)
    window.add(100.0)
    window.add(103.0)
    assert window.wait(105.0) == pytest.approx(5.0)
    assert window.wait(110.0) == 0.0


def test_a_bid_ask_request_counts_twice() -> None:
    window = SlidingWindow(limit=3, span=10.0)
    window.add(100.0, request(what_to_show="BID_ASK").weight)
    assert window.wait(101.0, weight=1) == 0.0
    assert window.wait(101.0, weight=2) == pytest.approx(9.0)


async def test_a_burst_is_spread_over_the_historical_window_and_none_is_lost() -> None:
    limiter = PacingLimiter(PacingRules(historical_requests=3, historical_window=0.3, identical_gap=0.0))
    times = await admitted_times(limiter, [request(conid) for conid in range(1, 10)])
    assert len(times) == 9
    assert most_within(times, 0.3) <= 3
    assert times[-1] - times[0] >= 0.6


async def test_an_identical_request_waits_for_the_gap() -> None:
    limiter = PacingLimiter(PacingRules(identical_gap=0.2))
    first, second = await admitted_times(limiter, [request(), request()])
    assert second - first >= 0.19


async def test_different_requests_do_not_wait_for_the_identical_gap() -> None:
    limiter = PacingLimiter(PacingRules(identical_gap=5.0))
    first, second = await admitted_times(limiter, [request(duration="1 Y"), request(duration="6 M")])
    assert second - first < 0.1


async def test_the_same_contract_is_asked_at_most_five_times_per_window() -> None:
    limiter = PacingLimiter(PacingRules(identical_gap=0.0, same_contract_window=0.3))
    times = await admitted_times(limiter, [request(duration=f"{days} D") for days in range(1, 8)])
    assert most_within(times, 0.3) <= 5
    assert times[-1] - times[0] >= 0.29


async def test_at_most_max_in_flight_requests_are_outstanding() -> None:
    limiter = PacingLimiter(PacingRules(max_in_flight=2, identical_gap=0.0))
    peak = 0

    async def one(item: HistoricalRequest) -> None:
        nonlocal peak
        async with limiter.historical(item):
            peak = max(peak, limiter.in_flight)
            await asyncio.sleep(0.02)

    await asyncio.gather(*(one(request(conid)) for conid in range(1, 7)))
    assert peak == 2
    assert limiter.in_flight == 0


async def test_other_requests_keep_to_the_message_rate() -> None:
    limiter = PacingLimiter(PacingRules(messages_per_second=4))
    times: list[float] = []

    async def one() -> None:
        async with limiter.request("contract details"):
            times.append(time.monotonic())

    await asyncio.gather(*(one() for _ in range(8)))
    assert len(times) == 8
    assert most_within(sorted(times), 1.0) <= 4


async def test_a_wait_longer_than_allowed_raises_with_the_delay() -> None:
    limiter = PacingLimiter(PacingRules(historical_requests=1, historical_window=60.0, max_wait=1.0))
    async with limiter.historical(request(1)):
        pass
    with pytest.raises(PacingDelayError) as caught:
        async with limiter.historical(request(2)):
            pass
    assert caught.value.retry_after == pytest.approx(60.0, abs=0.5)


async def test_a_pause_holds_historical_requests() -> None:
    limiter = PacingLimiter(PacingRules(identical_gap=0.0))
    started = time.monotonic()
    limiter.pause(0.2)
    async with limiter.historical(request()):
        assert time.monotonic() - started >= 0.19


async def test_waiting_requests_are_counted_while_they_wait() -> None:
    limiter = PacingLimiter(PacingRules(identical_gap=0.3))
    async with limiter.historical(request()):
        pass
    second = asyncio.ensure_future(admitted_times(limiter, [request()]))
    await asyncio.sleep(0.1)
    assert limiter.waiting == 1
    await second
    assert limiter.waiting == 0


async def test_a_burst_of_bar_requests_reaches_ib_spread_out_and_all_are_answered(
    tws: FakeTws, connection: IbConnection
) -> None:
    """Seen from the fake TWS: no 0.4 s window holds more than 3 historical requests, and all 9 got bars."""
    limiter = PacingLimiter(PacingRules(historical_requests=3, historical_window=0.4, identical_gap=0.0))
    provider = IbProvider(connection, limiter, historical_timeout=5.0)
    symbols = [
        ResolvedSymbol(conid=AAPL.conid, symbol="AAPL", exchange="SMART", currency="USD", asset_type=AssetType.STOCK),
        ResolvedSymbol(conid=SPY.conid, symbol="SPY", exchange="SMART", currency="USD", asset_type=AssetType.ETF),
        ResolvedSymbol(
            conid=EURUSD.conid, symbol="EUR", exchange="IDEALPRO", currency="USD", asset_type=AssetType.FOREX
        ),
    ]
    durations = ("5 D", "10 D", "15 D")
    results = await asyncio.gather(
        *(provider.bars(symbol, BarSize.HOUR_1 if symbol.asset_type == AssetType.FOREX else BarSize.DAY_1, d, AS_OF)
          for symbol in symbols for d in durations)
    )  # fmt: skip
    assert all(results)
    arrivals = [received.at for received in tws.requests_of(In.REQ_HISTORICAL_DATA)]
    assert len(arrivals) == 9
    assert most_within(arrivals, 0.4) <= 3
    assert arrivals[-1] - arrivals[0] >= 0.8 * 0.9


async def test_waiters_for_the_shared_window_go_in_arrival_order() -> None:
    limiter = PacingLimiter(PacingRules(historical_requests=1, historical_window=0.05, identical_gap=0.0))
    order: list[int] = []

    async def one(conid: int) -> None:
        async with limiter.historical(request(conid)):
            order.append(conid)

    tasks = []
    for conid in range(1, 7):
        tasks.append(asyncio.ensure_future(one(conid)))
        await asyncio.sleep(0)
    await asyncio.gather(*tasks)
    assert order == [1, 2, 3, 4, 5, 6]
