"""A backtest's next window of stored bars, read as the last window's bars and the few bars that follow them.

Each decision of a backtest reads a window of bars that ends at its decision time, so consecutive decisions' windows
mostly overlap: an hourly strategy's 720-bar window shares 719 bars with the one before. Reading and validating all
720 rows every decision was a third of market-data's CPU in a backtest. So :class:`KeptWindows` keeps, per bar
series, the last window it read (a few series at most, least recently used forgotten first), and answers a window
that starts at or after the kept one's start with the kept bars plus one small query for the bars after them. Any
other window (one that starts earlier, or after every kept bar) is read from the store whole, and kept in turn.

What it returns is always what ``BarHistoryRepository.bars`` would return at that moment, because of what a kept
window holds and why it cannot go stale:

* It keeps only the window's bars closed by its end, ``(after, last]`` where ``last`` is the start of the newest of
  them. The window was read only once the store covered it (``BarHistoryRepository.covers``: every bar starting
  after ``after`` and closed by its end is stored), and a bar closes no earlier than the bars that start before it
  (``bar_end`` grows with the start), so every bar of the series starting in ``(after, last]`` was stored when the
  window was read, and is kept. A bar in progress at the window's end is dropped: it may be stored only later, by a
  fetch that reaches past its close, so the next window reads it from the store instead.
* Stored bars are never rewritten nor deleted (the store inserts with ``ON CONFLICT DO NOTHING`` and no code
  deletes), so those kept bars stay exactly the stored ones; and a span once covered gains no new bar, except in one
  anomaly: the provider later returns a bar it did not return before inside a span already claimed, and a fetch
  stores it. Whenever this process has stored bars of a series (``StoredHistory``'s fetch, the only place in
  market-data that stores history), it calls :meth:`KeptWindows.forget`, and a read that was under way meanwhile
  keeps nothing, so the next window is read whole, anomaly included. With several market-data replicas, another
  replica's store cannot make this one forget: that is the same anomaly and only it, and it lasts until this
  replica reads that series whole again. Editing ``market_data.bar_history`` by hand is another such change;
  restart market-data after one.

A backtest stays reproducible: every window read is the stored bars of that window, whatever was read before it,
so a rerun sees the same bars as the first run (the anomaly aside, which would change a rerun without this cache
too). Bars reused from a kept window are the very same (frozen) ``Bar`` objects, which also lets the payload store
name their unchanged chunks without encoding them again.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter
from typing import Final

from tradelane.contracts.market import Bar, closed_bars
from tradelane.store.bar_history import BarHistoryRepository, BarSeries

KEPT_SERIES: Final = 8
"""Series whose last window is kept: a few backtests' timeframes at once (a window holds at most 5000 bars)."""
_START: Final = attrgetter("time")


@dataclass(frozen=True)
class _KeptWindow:
    """The bars of one series starting after ``after`` and closed by the end of the window read, oldest first."""

    after: datetime
    closed: tuple[Bar, ...]


class KeptWindows:
    """A store's bars per window (as :meth:`BarHistoryRepository.bars`), reusing the last window read per series."""

    def __init__(self, repository: BarHistoryRepository, max_series: int = KEPT_SERIES) -> None:
        self._repository = repository
        self._max_series = max_series
        self._kept: OrderedDict[BarSeries, _KeptWindow] = OrderedDict()
        self._forgotten = 0
        """How many times :meth:`forget` ran: a read that saw it change keeps nothing."""

    async def bars(self, series: BarSeries, after: datetime, until: datetime) -> tuple[Bar, ...]:
        """The stored bars of ``series`` that start after ``after`` and at or before ``until``, oldest first.

        The store must cover the window (:meth:`BarHistoryRepository.covers`), else the window is not kept.
        """
        forgotten = self._forgotten
        reused, read_after = self._reused(series, after, until)
        bars = reused if read_after is None else reused + await self._repository.bars(series, read_after, until)
        if self._forgotten == forgotten:
            self._keep(series, _KeptWindow(after, closed_bars(series.bar_size, bars, until)))
        return bars

    def forget(self, series: BarSeries) -> None:
        """Drop the kept window of ``series``: this process is storing bars of it."""
        self._kept.pop(series, None)
        self._forgotten += 1

    def _reused(self, series: BarSeries, after: datetime, until: datetime) -> tuple[tuple[Bar, ...], datetime | None]:
        """The kept bars of the window ``(after, until]``, and after when the rest is to be read (None: nothing)."""
        kept = self._kept.get(series)
        if kept is None or after < kept.after or not kept.closed or after >= kept.closed[-1].time:
            return (), after
        first = bisect_right(kept.closed, after, key=_START)
        last = kept.closed[-1].time
        if until <= last:
            return kept.closed[first : bisect_right(kept.closed, until, key=_START)], None
        return kept.closed[first:], last

    def _keep(self, series: BarSeries, window: _KeptWindow) -> None:
        self._kept[series] = window
        self._kept.move_to_end(series)
        while len(self._kept) > self._max_series:
            self._kept.popitem(last=False)
