"""The scheduler loop: sleep until runs are due, publish them, repeat.

Between runs it keeps only when each active strategy runs next: its
:class:`~tradelane.store.strategies.StrategySchedule` and a due time, not its definition.
:data:`PREPARE_AHEAD` of a due time it reads the definitions of the strategies due by then,
one query per :data:`PREPARE_BATCH`, and builds and serialises their ExecutionRequested; at
the due time it only sends those bytes, a thousand to a JetStream batch
(:meth:`~tradelane.runtime.bus.EventBus.publish_many`), and then works out each strategy's
next due time (once for all the strategies that share a cron, a zone and a due time). So
10,000 strategies due in the same minute cost neither 10,000 parsed definitions held in
memory nor 10,000 queries, round trips and disk flushes at the top of that minute.

A run is built from the definition stored at that moment. A strategy changed after that (its
version went up) is built again at the reload its NOTIFY brings, and one paused or deleted is
dropped there; a run built only at its due time is built for a strategy still active on the
same schedule, or not at all (a rescheduled one gets its new due time at the reload).

It wakes early when a strategy is created, changed or deleted (PostgreSQL NOTIFY from the
strategies table), and reloads every ``reload_seconds`` anyway in case a notification was
missed while the connection was down.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, Protocol
from uuid import UUID

import structlog

from tradelane.cron import next_fire
from tradelane.runtime.bus import EncodedEvent, encode_event
from tradelane.scheduler.schedule import scheduled_request
from tradelane.store.strategies import StoredStrategy, StrategySchedule

log = structlog.get_logger(__name__)

Clock = Callable[[], datetime]
PublishMany = Callable[[Sequence[EncodedEvent]], Awaitable[list[Exception | None]]]

PREPARE_AHEAD: Final = timedelta(seconds=30)
"""How long before a due time its runs are built: 10,000 take a few seconds of CPU, more on busy
cores. No staler than before: a strategy changed since is rebuilt on the reload its NOTIFY brings,
and definitions were as old as the last reload (every 30 s) when the scheduler kept them all."""

PREPARE_BATCH: Final = 500
"""Definitions read in one query while preparing runs; the loop lets other work in between batches."""


class Strategies(Protocol):
    """What the scheduler reads of the stored strategies (:class:`~tradelane.store.strategies.StrategyRepository`)."""

    async def schedules(self) -> list[StrategySchedule]: ...

    async def active_by_ids(self, strategy_ids: Sequence[UUID]) -> list[StoredStrategy]: ...


def utc_clock() -> datetime:
    return datetime.now(UTC)


@functools.lru_cache(maxsize=4096)
def _next_fire(cron: str, timezone: str, after: datetime) -> datetime:
    """:func:`tradelane.cron.next_fire`, worked out once for the strategies that share a cron, a zone and a time."""
    return next_fire(cron, timezone, after)


@dataclass(slots=True)
class _Entry:
    schedule: StrategySchedule
    due: datetime
    request: EncodedEvent | None = None
    """The run due at ``due``, built and serialised ahead of it; None until prepared."""

    def advance(self) -> None:
        """On to the next due time (the run of this one was published or skipped)."""
        self.due = _next_fire(self.schedule.cron, self.schedule.timezone, self.due)
        self.request = None


class Scheduler:
    """Fires each active strategy at its cron times."""

    def __init__(
        self,
        strategies: Strategies,
        publish_many: PublishMany,
        *,
        clock: Clock = utc_clock,
        reload_seconds: float = 30.0,
        misfire_grace: timedelta = timedelta(seconds=60),
        prepare_ahead: timedelta = PREPARE_AHEAD,
    ) -> None:
        self._strategies = strategies
        self._publish_many = publish_many
        self._clock = clock
        self._reload_seconds = reload_seconds
        self._misfire_grace = misfire_grace
        self._prepare_ahead = prepare_ahead
        self._entries: dict[UUID, _Entry] = {}
        self._changed = asyncio.Event()
        self._reloaded_at = -float("inf")  # time.monotonic() of the last reload: none yet, so the first is due

    def notify_changed(self) -> None:
        """Tell the loop that strategies changed (called from the NOTIFY listener)."""
        self._changed.set()

    @property
    def next_due(self) -> dict[UUID, datetime]:
        """When each scheduled strategy runs next."""
        return {strategy_id: entry.due for strategy_id, entry in self._entries.items()}

    async def reload(self) -> None:
        """Re-read active strategies' schedules; keep the due time of those whose schedule is unchanged.

        A run prepared from a definition that has changed since (a new version) is prepared again.
        """
        now = self._clock()
        entries: dict[UUID, _Entry] = {}
        for schedule in await self._strategies.schedules():
            known = self._entries.get(schedule.id)
            if known is not None and _same_times(known.schedule, schedule.cron, schedule.timezone):
                request = known.request if known.schedule.version == schedule.version else None
                entries[schedule.id] = _Entry(schedule, known.due, request)
            else:
                entries[schedule.id] = _Entry(schedule, _next_fire(schedule.cron, schedule.timezone, now))
        added = entries.keys() - self._entries.keys()
        removed = self._entries.keys() - entries.keys()
        if added or removed:
            log.info("schedule_reloaded", strategies=len(entries), added=len(added), removed=len(removed))
        self._entries = entries
        self._reloaded_at = time.monotonic()

    async def prepare_upcoming(self) -> None:
        """Build the requests of the runs due within ``prepare_ahead``, so that their due time only sends them.

        Soonest first; it stops when one of them falls due, so the loop sends what is built (and
        builds the rest then) rather than finish building first.
        """
        horizon = self._clock() + self._prepare_ahead
        upcoming = sorted(
            (entry for entry in self._entries.values() if entry.request is None and entry.due <= horizon),
            key=lambda entry: entry.due,
        )
        for start in range(0, len(upcoming), PREPARE_BATCH):
            batch = upcoming[start : start + PREPARE_BATCH]
            if batch[0].due <= self._clock():
                return
            await self._prepare(batch)

    async def fire_due(self) -> int:
        """Publish every run due by now; returns how many were published.

        A run due longer ago than the misfire grace is skipped, not published. When a publish
        fails, the others still go out; the failed runs stay due and the first error is raised,
        so the loop publishes them again (JetStream drops any copy it already stored).
        """
        fired = 0
        while due := self._due_by(self._clock()):
            earliest = min(entry.due for entry in due)
            if all(entry.request is None for entry in due):  # what was built ahead goes out first, the rest after
                await self._prepare(due)
                for entry in due:
                    if entry.request is None:
                        log.info(
                            "run_skipped_strategy_changed",
                            strategy_id=str(entry.schedule.id),
                            due=entry.due.isoformat(),
                        )
                        entry.advance()
            ready = [(entry, entry.request) for entry in due if entry.request is not None]
            outcomes = await self._publish_many([request for _, request in ready])
            failures = [outcome for outcome in outcomes if outcome is not None]
            for (entry, _), outcome in zip(ready, outcomes, strict=True):
                if outcome is None:
                    log.debug("execution_scheduled", strategy_id=str(entry.schedule.id), due=entry.due.isoformat())
                    entry.advance()
            fired += len(ready) - len(failures)
            if len(ready) > len(failures):
                log.info("executions_scheduled", count=len(ready) - len(failures), due=earliest.isoformat())
            if failures:
                error = failures[0]
                log.warning("runs_not_published", count=len(failures), error=f"{type(error).__name__}: {error}")
                raise error
        return fired

    def _due_by(self, now: datetime) -> list[_Entry]:
        """The entries with a run due by ``now``, each past the runs it missed by more than the grace."""
        due = []
        for entry in self._entries.values():
            skipped = 0
            while now - entry.due > self._misfire_grace:
                skipped += 1
                entry.advance()
            if skipped:
                log.warning(
                    "runs_skipped_too_late",
                    strategy_id=str(entry.schedule.id),
                    skipped=skipped,
                    next_due=entry.due.isoformat(),
                )
            if entry.due <= now:
                due.append(entry)
        return due

    async def _prepare(self, entries: Sequence[_Entry]) -> None:
        """Build and serialise the request of each of ``entries`` that has none, from its stored definition."""
        unprepared = [entry for entry in entries if entry.request is None]
        for start in range(0, len(unprepared), PREPARE_BATCH):
            batch = unprepared[start : start + PREPARE_BATCH]
            stored = {
                strategy.id: strategy
                for strategy in await self._strategies.active_by_ids([entry.schedule.id for entry in batch])
            }
            for entry in batch:
                strategy = stored.get(entry.schedule.id)
                if strategy is None:
                    continue  # paused or deleted since the reload (its NOTIFY is on the way)
                stored_schedule = strategy.definition.schedule
                if not _same_times(entry.schedule, stored_schedule.cron, stored_schedule.timezone):
                    continue  # rescheduled since the reload: the next one gives it its new due time
                entry.request = encode_event(scheduled_request(strategy.id, strategy.definition, entry.due))
            await asyncio.sleep(0)

    def seconds_until_next(self) -> float:
        """How long until the earliest due time, at most the reload interval."""
        if not self._entries:
            return self._reload_seconds
        earliest = min(entry.due for entry in self._entries.values())
        return max(0.0, min(self._reload_seconds, (earliest - self._clock()).total_seconds()))

    def _seconds_until_wake(self) -> float:
        """How long to sleep: until the next due time, the next runs to prepare, or the next reload."""
        now = self._clock()
        upcoming = (entry.due - self._prepare_ahead for entry in self._entries.values() if entry.request is None)
        prepare_at = min((moment for moment in upcoming if moment > now), default=None)
        until_prepare = (prepare_at - now).total_seconds() if prepare_at is not None else float("inf")
        until_reload = self._reload_seconds - (time.monotonic() - self._reloaded_at)
        return max(0.0, min(self.seconds_until_next(), until_prepare, until_reload))

    async def run(self) -> None:
        """Run until cancelled; a failure to load or publish is logged and retried shortly."""
        pause = 0.0
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout=max(pause, self._seconds_until_wake()))
            try:
                if self._changed.is_set() or time.monotonic() - self._reloaded_at >= self._reload_seconds:
                    self._changed.clear()
                    await self.reload()
                await self.fire_due()
                await self.prepare_upcoming()
                pause = 0.0
            except Exception as error:
                log.warning("scheduler_retrying", error=f"{type(error).__name__}: {error}", retry_in_seconds=1.0)
                pause = 1.0


def _same_times(schedule: StrategySchedule, cron: str, timezone: str) -> bool:
    """Whether ``schedule`` fires at the times of ``cron`` in ``timezone`` (its version aside)."""
    return (schedule.cron, schedule.timezone) == (cron, timezone)
