"""When a backtest decides: its decision times over a period, from the bars that closed in it (pure).

A decision at time ``t`` is an execution whose data ends at ``t`` (``as_of``): it sees the bars
closed at or before ``t``. A bar closes at its start plus its size (the nominal close: a daily
bar of the simulated market starts at 00:00 and closes at the next 00:00). The cadence says when
the strategy would have run:

- ``bar``: at every bar close in the period;
- ``cron``: at the strategy's own schedule (its cron in its time zone), replayed over the period;
- a cron expression: that schedule instead, read in the strategy's time zone.

A run at which no bar closed since the run before would see nothing new (the market was closed),
so only the runs after a new bar are kept: the first run at or after each bar close. A cadence that
runs more often than one bar is refused: its runs between two closes would decide on the same bars.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from tradelane.contracts.backtest import BAR_CADENCE, CRON_CADENCE, MAX_DECISIONS
from tradelane.contracts.market import Bar
from tradelane.contracts.strategy import BarSize, Schedule
from tradelane.cron import FIELDS, cron_fault, first_fire_from, next_fires

CADENCE_SAMPLE_RUNS: Final = 200
"""Runs of a cron looked at, from the start of the period, to find its shortest interval."""
LONGEST_REQUIRED_INTERVAL: Final = timedelta(days=28)
"""A monthly bar is nominally 30 days; a cron on the first of every month runs 28 days apart in February."""


class PlanError(ValueError):
    """The backtest cannot be planned as asked; the message says what to change."""


def bar_close(bar: Bar, bar_size: BarSize) -> datetime:
    """When ``bar`` closed: its start plus its nominal size."""
    return bar.time + timedelta(seconds=bar_size.seconds)


def decision_times(
    bars: Sequence[Bar], bar_size: BarSize, cadence: str, schedule: Schedule, start: datetime, end: datetime
) -> list[datetime]:
    """The decision times in ``[start, end]``, oldest first, for ``bars`` of ``bar_size`` (in any order).

    Raises :class:`PlanError` when no bar closed in the period, the cadence is not one, runs more
    often than one bar, or gives no decision or more than :data:`MAX_DECISIONS`.
    """
    closes = sorted({close for bar in bars if start <= (close := bar_close(bar, bar_size)) <= end})
    if not closes:
        msg = (
            f"no {bar_size.value} bar closed between {start.isoformat()} and {end.isoformat()}: "
            "pick a period in which the market traded"
        )
        raise PlanError(msg)
    if cadence == BAR_CADENCE:
        return _bounded(closes)
    cron = schedule.cron if cadence == CRON_CADENCE else cadence
    fault = cron_fault(cron)
    if fault is not None:
        msg = (
            f"cadence {cron!r} is not a cron expression ({len(FIELDS)} fields: {' '.join(FIELDS)}, e.g. "
            f"'30 15 * * 1-5'), nor 'bar' or 'cron': {fault}"
        )
        raise PlanError(msg)
    _refuse_finer_than_a_bar(cron, schedule.timezone, bar_size, start)
    times = _first_run_after_each_close(cron, schedule.timezone, closes, end)
    if not times:
        msg = (
            f"the schedule {cron!r} ({schedule.timezone}) does not run between the first bar close of the period "
            f"({closes[0].isoformat()}) and its end ({end.isoformat()}): widen the period or use cadence 'bar'"
        )
        raise PlanError(msg)
    return times


def shortest_interval(cron: str, timezone: str, after: datetime, runs: int = CADENCE_SAMPLE_RUNS) -> timedelta:
    """The shortest wall-clock time between two of the first ``runs`` runs of ``cron`` after ``after``.

    Wall-clock (local) time, so a daily run is a day apart across a change of the clocks too.
    """
    zone = ZoneInfo(timezone)
    local = [fire.astimezone(zone).replace(tzinfo=None) for fire in next_fires(cron, timezone, after, runs)]
    return min(later - earlier for earlier, later in itertools.pairwise(local))


def _refuse_finer_than_a_bar(cron: str, timezone: str, bar_size: BarSize, start: datetime) -> None:
    required = min(timedelta(seconds=bar_size.seconds), LONGEST_REQUIRED_INTERVAL)
    interval = shortest_interval(cron, timezone, start - timedelta(seconds=1))
    if interval < required:
        msg = (
            f"the schedule {cron!r} runs every {_spoken(interval)}, more often than one {bar_size.value} bar: "
            "a run between two bar closes would decide on the same bars again; use cadence 'bar' "
            "or a cron that runs at most once per bar"
        )
        raise PlanError(msg)


def _first_run_after_each_close(cron: str, timezone: str, closes: Sequence[datetime], end: datetime) -> list[datetime]:
    """For each bar close, the first run at or after it, once per run: the runs that see a new bar."""
    times: list[datetime] = []
    index = 0
    while index < len(closes):
        close = closes[index]
        run = first_fire_from(cron, timezone, close)
        if run > end:
            break
        times.append(run)
        if len(times) > MAX_DECISIONS:
            raise PlanError(_too_many())
        while index < len(closes) and closes[index] <= run:
            index += 1
    return times


def _bounded(times: list[datetime]) -> list[datetime]:
    if len(times) > MAX_DECISIONS:
        raise PlanError(_too_many())
    return times


def _too_many() -> str:
    return f"the period holds more than {MAX_DECISIONS} decisions: shorten it or decide less often"


def _spoken(interval: timedelta) -> str:
    seconds = int(interval.total_seconds())
    for unit, length in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= length and seconds % length == 0:
            count = seconds // length
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} seconds"
