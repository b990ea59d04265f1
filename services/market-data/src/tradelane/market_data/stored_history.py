"""Stored price history for backtests: each span of bars is asked of the provider once, then read from Postgres.

A backtest makes one execution per decision, each reading a window of bars that ends at its decision time.
Asking IB for each would spend its pacing (about 60 historical requests per 10 minutes) many times over on
bars that do not change. So a window the store does not cover is fetched once, wider: from the window's start
to ``AHEAD_BARS`` bars past its end (never past now), so that the backtest's next decisions find their windows
inside the stored span. Only closed bars are stored; the provider's pacing applies to that one request as to
any other. A decision's window is read as the last window of its series and the bars after it
(:mod:`tradelane.market_data.kept_windows`, which says why that is always what the store holds); every fetch
makes it forget the fetched series' last window.

A step handles several decisions at once (``TRADELANE_STEP_BATCH``), and those of one backtest read the same
series: one at a time per series, they look at the store and fetch, so the first fetches the missing span and
the others find it stored, instead of all asking the provider for it together.
"""

from __future__ import annotations

import asyncio
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta
from operator import attrgetter
from typing import Final

import structlog

from tradelane.contracts.envelope import utc_now
from tradelane.contracts.history import BarsRequest
from tradelane.contracts.market import Bar, ResolvedSymbol, closed_bars
from tradelane.contracts.payloads import chunk_start
from tradelane.contracts.strategy import MAX_BARS, BarSize, WhatToShow, bar_end, duration_covering, duration_seconds
from tradelane.market_data.kept_windows import KeptWindows
from tradelane.market_data.provider import MarketDataProvider
from tradelane.store.bar_history import BarHistoryRepository, BarSeries

log = structlog.get_logger(__name__)

AHEAD_BARS: Final = 2000
"""Bars fetched past a missed window's end, for the decisions that follow it."""
_JUST_BEFORE: Final = timedelta(microseconds=1)
_START: Final = attrgetter("time")


def wider_request(bar_size: BarSize, after: datetime, until: datetime, now: datetime) -> tuple[str, datetime]:
    """The provider request (IB duration, end) that fills the window ``(after, until]`` and the bars that follow it.

    It ends ``AHEAD_BARS`` bars after ``until``, or now if sooner (never before ``until``), and reaches back to
    ``after``. It spans at most ``MAX_BARS`` bars of calendar time, fewer bars ahead if need be, so a provider
    that returns at most ``MAX_BARS`` bars never cuts its oldest ones off.
    """
    ahead = AHEAD_BARS
    while True:
        end = max(until, min(now, until + timedelta(seconds=ahead * bar_size.seconds)))
        duration = duration_covering((end - after).total_seconds())
        if ahead == 0 or duration_seconds(duration) <= MAX_BARS * bar_size.seconds:
            return duration, end
        ahead //= 2


class StoredHistory:
    """Bars from ``market_data.bar_history``, each missed window fetched (wider) from the provider and stored."""

    def __init__(
        self, provider: MarketDataProvider, repository: BarHistoryRepository, clock: Callable[[], datetime] = utc_now
    ) -> None:
        self._provider = provider
        self._repository = repository
        self._windows = KeptWindows(repository)
        self._clock = clock
        self._fetching: defaultdict[BarSeries, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def lead_and_bars(
        self,
        symbol: ResolvedSymbol,
        bar_size: BarSize,
        duration: str,
        end: datetime,
        *,
        use_rth: bool = True,
        what_to_show: WhatToShow = "TRADES",
    ) -> tuple[tuple[Bar, ...], tuple[Bar, ...]]:
        """The window's lead and the stored bars starting within ``duration`` before ``end`` (as
        :meth:`MarketDataProvider.bars`).

        Unlike the provider, it returns closed bars only: those closed by ``end``, and any later ones the store
        holds, starting at or before ``end``; the bar in progress at now is never among them.

        The lead is the stored bars before the window in the chunk period of its start
        (:func:`~tradelane.contracts.payloads.chunk_period`), when the store covers that span; else there is none.
        With it, the payload store keeps the window's oldest chunk whole, the same for every window starting in
        that period (:meth:`~tradelane.runtime.payloads.PayloadStore.put_bars`).
        """
        series = BarSeries(symbol.conid, bar_size, what_to_show, use_rth)
        after = end - timedelta(seconds=duration_seconds(duration))
        lead_after = chunk_start(bar_size, after) - _JUST_BEFORE
        async with self._fetching[series]:
            read_after = lead_after
            if not await self._repository.covers(series, lead_after, end):
                read_after = after
                if not await self._repository.covers(series, after, end):
                    await self._fetch(symbol, series, after, end)
        bars = await self._windows.bars(series, read_after, end)
        first = bisect_right(bars, after, key=_START)
        return bars[:first], bars[first:]

    async def between(self, request: BarsRequest) -> tuple[Bar, ...] | None:
        """The bars ``request`` asks for (starting from its start, before its end) when the store holds them all,
        else None."""
        series = BarSeries(request.symbol.conid, request.bar_size, request.what_to_show, request.use_rth)
        after = request.start - _JUST_BEFORE
        # the last bar starting before the end closes by the end of a bar starting at the end
        if not await self._repository.covers(series, after, bar_end(request.bar_size, request.end)):
            return None
        return await self._repository.bars(series, after, request.end - _JUST_BEFORE)

    async def _fetch(self, symbol: ResolvedSymbol, series: BarSeries, after: datetime, until: datetime) -> None:
        now = self._clock()
        duration, end = wider_request(series.bar_size, after, until, now)
        bars = await self._provider.bars(
            symbol, series.bar_size, duration, end, use_rth=series.use_rth, what_to_show=series.what_to_show
        )
        span_end = min(end, now)
        closed = closed_bars(series.bar_size, bars, span_end)
        span_start = end - timedelta(seconds=duration_seconds(duration))
        if len(bars) >= MAX_BARS:
            # the provider may have cut the oldest bars off: claim nothing before its first
            span_start = max(span_start, bars[0].time)
        try:
            await self._repository.store(series, closed, span_start, span_end)
        finally:  # once stored: a read that began before, and may have missed the bars, keeps nothing
            self._windows.forget(series)
        log.info(
            "bar_history_fetched",
            symbol=symbol.symbol,
            bar_size=series.bar_size.value,
            duration=duration,
            end=end.isoformat(),
            bars=len(closed),
        )
