"""A window of stored bars, read as the last window's bars and the bars after them, is what the store holds."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from market_data_tests.spiked_provider import INSTRUMENT, SpikedProvider
from tradelane.contracts.market import Bar, ResolvedSymbol
from tradelane.contracts.strategy import BarSize, WhatToShow
from tradelane.market_data.kept_windows import KeptWindows
from tradelane.market_data.stored_history import StoredHistory, wider_request
from tradelane.store.bar_history import BarHistoryRepository, BarSeries

MONDAY = datetime(2025, 3, 3, tzinfo=UTC)
HOURLY = BarSeries(conid=INSTRUMENT.conid, bar_size=BarSize.HOUR_1, what_to_show="TRADES", use_rth=True)


def _hours(count: float) -> datetime:
    return MONDAY + timedelta(hours=count)


def weekday_bars(first: datetime, last: datetime) -> tuple[Bar, ...]:
    """Hourly bars starting from ``first`` to ``last``, none on Saturdays and Sundays, each with prices of its own."""
    hours = int((last - first) / timedelta(hours=1)) + 1
    starts = [time for time in (first + timedelta(hours=h) for h in range(hours)) if time.weekday() < 5]
    return tuple(
        Bar(time=time, open=100 + index, high=102 + index, low=99 + index, close=101 + index, volume=1)
        for index, time in enumerate(starts)
    )


class RecordingRepository(BarHistoryRepository):
    """The real repository, counting the bars each read returns."""

    def __init__(self, pool: asyncpg.Pool[Any], provider: str) -> None:
        super().__init__(pool, provider)
        self.read: list[int] = []

    async def bars(self, series: BarSeries, after: datetime, until: datetime) -> tuple[Bar, ...]:
        bars = await super().bars(series, after, until)
        self.read.append(len(bars))
        return bars


def windows_in_every_direction() -> list[tuple[datetime, datetime]]:
    """Windows ``(after, until]`` of the first two weeks: five days sliding by an hour across the weekend (no new bar
    on Saturday and Sunday), then by 7 minutes (ends off the bars' grid), then backwards, jumping, shrinking from
    either end, growing backwards, repeated, holding no bar, and starting after every bar of the window before."""
    days = timedelta(days=5)
    hourly = [(_hours(h) - days, _hours(h)) for h in range(110, 180)]  # Friday 14:00 to Monday 12:00
    off_grid = [
        (_hours(180) - days + timedelta(minutes=7 * m), _hours(180) + timedelta(minutes=7 * m)) for m in range(20)
    ]
    return [
        *hourly,
        *off_grid,
        (_hours(175) - days, _hours(175)),  # backwards
        (_hours(176) - days, _hours(176)),
        (_hours(222) - days, _hours(222)),  # two days later
        (_hours(232) - days, _hours(222)),  # shrinking from the start
        (_hours(233) - days, _hours(219.5)),  # and from the end
        (_hours(215) - days, _hours(226)),  # growing backwards
        (_hours(215) - days, _hours(226)),  # the same again
        (_hours(119.5), _hours(167.5)),  # the weekend alone: no bar
        (_hours(120.5), _hours(168.5)),  # then Monday's first
        (_hours(170), _hours(175)),  # after every bar of the window before
        (_hours(171), _hours(176)),
    ]


async def test_every_window_is_what_a_fresh_read_returns(pool: asyncpg.Pool[Any]) -> None:
    repository = RecordingRepository(pool, "ib")
    await repository.store(HOURLY, weekday_bars(_hours(-200), _hours(400)), _hours(-201), _hours(401))
    windows = KeptWindows(repository)
    for after, until in windows_in_every_direction():
        assert await windows.bars(HOURLY, after, until) == await repository.bars(HOURLY, after, until), (after, until)


async def test_a_window_an_hour_after_the_last_reads_only_the_bars_after_its_last_closed_bar(
    pool: asyncpg.Pool[Any],
) -> None:
    """The bar in progress at the last window's end is read again (it had not closed); the rest are the same bars."""
    repository = RecordingRepository(pool, "ib")
    await repository.store(HOURLY, weekday_bars(_hours(-200), _hours(400)), _hours(-201), _hours(401))
    windows = KeptWindows(repository)
    first = await windows.bars(HOURLY, _hours(-72), _hours(48))
    second = await windows.bars(HOURLY, _hours(-71), _hours(49))
    assert repository.read == [len(first), 2]
    assert all(later is earlier for later, earlier in zip(second[:-2], first[1:-1], strict=True))
    assert [bar.time for bar in second[-2:]] == [_hours(48), _hours(49)]


async def test_a_bar_stored_after_a_window_that_it_was_in_progress_at_is_read(pool: asyncpg.Pool[Any]) -> None:
    """Stored by another process (nothing forgotten): the bar in progress at a span's end, stored with a later span."""
    repository = BarHistoryRepository(pool, "ib")
    bars = weekday_bars(_hours(0), _hours(100))
    await repository.store(HOURLY, bars[:48], _hours(-1), _hours(48.5))  # not the bar at 48:00, closing at 49:00
    windows = KeptWindows(repository)
    before = await windows.bars(HOURLY, _hours(10), _hours(48.5))
    assert before[-1].time == _hours(47)

    await repository.store(HOURLY, bars, _hours(-1), _hours(101))
    after = await windows.bars(HOURLY, _hours(11), _hours(49.5))
    assert after == await repository.bars(HOURLY, _hours(11), _hours(49.5))
    assert [bar.time for bar in after[-2:]] == [_hours(48), _hours(49)]


class BarLeavingProvider(SpikedProvider):
    """Leaves out the bars starting at the times in ``left_out``: a provider that returns a bar later, not at first."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.left_out: set[datetime] = set()

    async def bars(
        self,
        symbol: ResolvedSymbol,
        bar_size: BarSize,
        duration: str,
        end: datetime,
        *,
        use_rth: bool = True,
        what_to_show: WhatToShow = "TRADES",
    ) -> tuple[Bar, ...]:
        bars = await super().bars(symbol, bar_size, duration, end, use_rth=use_rth, what_to_show=what_to_show)
        return tuple(bar for bar in bars if bar.time not in self.left_out)


def times(bars: Sequence[Bar]) -> list[datetime]:
    return [bar.time for bar in bars]


async def test_a_fetch_that_stores_a_bar_missing_from_a_stored_span_makes_the_next_window_hold_it(
    pool: asyncpg.Pool[Any],
) -> None:
    """The one way a stored span gains a bar: the next window is read whole from the store, with it."""
    now = datetime(2025, 9, 1, tzinfo=UTC)
    provider = BarLeavingProvider("leaving")
    repository = BarHistoryRepository(pool, provider.name)
    history = StoredHistory(provider, repository, clock=lambda: now)
    first = MONDAY + timedelta(days=30)
    _, stored_until = wider_request(BarSize.HOUR_1, first - timedelta(days=30), first, now)
    missing = stored_until - timedelta(hours=5)
    provider.left_out.add(missing)
    await history.lead_and_bars(INSTRUMENT, BarSize.HOUR_1, "30 D", first)
    _, last_stored = await history.lead_and_bars(INSTRUMENT, BarSize.HOUR_1, "30 D", stored_until - timedelta(hours=1))
    assert missing not in times(last_stored)
    assert len(provider.bar_requests) == 1

    provider.left_out.clear()
    past_the_span = stored_until + timedelta(hours=1)
    _, bars = await history.lead_and_bars(INSTRUMENT, BarSize.HOUR_1, "30 D", past_the_span)
    assert len(provider.bar_requests) == 2, "the window past the stored span is fetched"
    assert missing in times(bars)
    assert bars == await repository.bars(HOURLY, past_the_span - timedelta(days=30), past_the_span)
