"""The shared pacing limiter: bursts are spread out to IB's rules, nothing is dropped.

The limiter's own tests run on a :class:`FakeClock`: it waits in virtual seconds, so the
instants a request is admitted at are exact and no test waits in wall time. The burst sent
to the fake TWS runs on the real clock, since the TWS stamps arrivals with it.
"""

from __future__ import annotations

import asyncio

import pytest

from market_data_tests.tws_fixtures import AS_OF, EURUSD, SPY
from tests.support.clock import FakeClock
from tests.support.waiting import eventually
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


def limiter_on(clock: FakeClock, rules: PacingRules) -> PacingLimiter:
    return PacingLimiter(rules, clock=clock, sleep=clock.sleep)


async def admitted_times(clock: FakeClock, limiter: PacingLimiter, requests: list[HistoricalRequest]) -> list[float]:
    """Send every request through the limiter at once; the virtual instant each got through."""
    times: list[float] = []

    async def one(item: HistoricalRequest) -> None:
        async with limiter.historical(item):
            times.append(clock())

    await clock.run(asyncio.gather(*(one(item) for item in requests)))
    return sorted(times)


def most_within(times: list[float], span: float, slack: float = 0.0) -> int:
    """The largest number of times inside any window of ``span`` seconds.

    Times taken on the real clock come after admission (and its log line): check their windows ``slack`` short.
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
    clock = FakeClock()
    limiter = limiter_on(clock, PacingRules(historical_requests=3, historical_window=0.3, identical_gap=0.0))
    times = await admitted_times(clock, limiter, [request(conid) for conid in range(1, 10)])
    assert len(times) == 9
    assert most_within(times, 0.3) <= 3
    assert times[-1] - times[0] == pytest.approx(0.6)


async def test_an_identical_request_waits_for_the_gap() -> None:
    clock = FakeClock()
    limiter = limiter_on(clock, PacingRules(identical_gap=0.2))
    first, second = await admitted_times(clock, limiter, [request(), request()])
    assert second - first == pytest.approx(0.2)


async def test_different_requests_do_not_wait_for_the_identical_gap() -> None:
    clock = FakeClock()
    limiter = limiter_on(clock, PacingRules(identical_gap=5.0))
    first, second = await admitted_times(clock, limiter, [request(duration="1 Y"), request(duration="6 M")])
    assert second == first


async def test_the_same_contract_is_asked_at_most_five_times_per_window() -> None:
    clock = FakeClock()
    limiter = limiter_on(clock, PacingRules(identical_gap=0.0, same_contract_window=0.3))
    times = await admitted_times(clock, limiter, [request(duration=f"{days} D") for days in range(1, 8)])
    assert most_within(times, 0.3) <= 5
    assert times[-1] - times[0] == pytest.approx(0.3)


async def test_at_most_max_in_flight_requests_are_outstanding() -> None:
    clock = FakeClock()
    limiter = limiter_on(clock, PacingRules(max_in_flight=2, identical_gap=0.0))
    peak = 0

    async def one(item: HistoricalRequest) -> None:
        nonlocal peak
        async with limiter.historical(item):
            peak = max(peak, limiter.in_flight)
            await clock.sleep(0.02)

    await clock.run(asyncio.gather(*(one(request(conid)) for conid in range(1, 7))))
    assert peak == 2
    assert limiter.in_flight == 0


async def test_other_requests_keep_to_the_message_rate() -> None:
    clock = FakeClock()
    limiter = limiter_on(clock, PacingRules(messages_per_second=4))
    times: list[float] = []

    async def one() -> None:
        async with limiter.request("contract details"):
            times.append(clock())

    await clock.run(asyncio.gather(*(one() for _ in range(8))))
    assert len(times) == 8
    assert most_within(sorted(times), 1.0) <= 4


async def test_a_wait_longer_than_allowed_raises_with_the_delay() -> None:
    clock = FakeClock()
    limiter = limiter_on(clock, PacingRules(historical_requests=1, historical_window=60.0, max_wait=1.0))
    async with limiter.historical(request(1)):
        pass
    with pytest.raises(PacingDelayError) as caught:
        async with limiter.historical(request(2)):
            pass
    assert caught.value.retry_after == pytest.approx(60.0)


async def test_a_pause_holds_historical_requests() -> None:
    clock = FakeClock()
    limiter = limiter_on(clock, PacingRules(identical_gap=0.0))
    started = clock()
    limiter.pause(0.2)
    assert await admitted_times(clock, limiter, [request()]) == [pytest.approx(started + 0.2)]


async def test_waiting_requests_are_counted_while_they_wait() -> None:
    clock = FakeClock()
    limiter = limiter_on(clock, PacingRules(identical_gap=0.3))
    async with limiter.historical(request()):
        pass

    async def identical() -> None:
        async with limiter.historical(request()):
            pass

    second = asyncio.ensure_future(identical())
    assert await eventually(lambda: limiter.waiting == 1, "the identical request to wait out the gap", timeout=5)
    clock.advance(0.3)
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
    assert most_within(arrivals, 0.4, slack=0.1) <= 3
    assert arrivals[-1] - arrivals[0] >= 0.8 * 0.9


async def test_waiters_for_the_shared_window_go_in_arrival_order() -> None:
    clock = FakeClock()
    limiter = limiter_on(clock, PacingRules(historical_requests=1, historical_window=0.05, identical_gap=0.0))
    order: list[int] = []

    async def one(conid: int) -> None:
        async with limiter.historical(request(conid)):
            order.append(conid)

    tasks = []
    for conid in range(1, 7):
        tasks.append(asyncio.ensure_future(one(conid)))
        await asyncio.sleep(0)
    await clock.run(asyncio.gather(*tasks))
    assert order == [1, 2, 3, 4, 5, 6]
