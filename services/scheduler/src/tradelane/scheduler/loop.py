"""The scheduler loop: sleep until the next strategy is due, publish its run, repeat.

It wakes early when a strategy is created, changed or deleted (PostgreSQL NOTIFY from the
strategies table), and reloads every ``reload_seconds`` anyway in case a notification was
missed while the connection was down.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

import structlog

from tradelane.contracts.events import ExecutionRequested
from tradelane.contracts.strategy import StrategyDefinition
from tradelane.cron import next_fire
from tradelane.scheduler.schedule import scheduled_request
from tradelane.store.strategies import StoredStrategy

log = structlog.get_logger(__name__)

Clock = Callable[[], datetime]
LoadStrategies = Callable[[], Awaitable[list[StoredStrategy]]]
Publish = Callable[[ExecutionRequested], Awaitable[None]]


def utc_clock() -> datetime:
    return datetime.now(UTC)


@dataclass
class _Entry:
    definition: StrategyDefinition
    version: int
    due: datetime


class Scheduler:
    """Fires each active strategy at its cron times."""

    def __init__(
        self,
        load: LoadStrategies,
        publish: Publish,
        *,
        clock: Clock = utc_clock,
        reload_seconds: float = 30.0,
        misfire_grace: timedelta = timedelta(seconds=60),
    ) -> None:
        self._load = load
        self._publish = publish
        self._clock = clock
        self._reload_seconds = reload_seconds
        self._misfire_grace = misfire_grace
        self._entries: dict[UUID, _Entry] = {}
        self._changed = asyncio.Event()

    def notify_changed(self) -> None:
        """Tell the loop that strategies changed (called from the NOTIFY listener)."""
        self._changed.set()

    @property
    def next_due(self) -> dict[UUID, datetime]:
        """When each scheduled strategy runs next."""
        return {strategy_id: entry.due for strategy_id, entry in self._entries.items()}

    async def reload(self) -> None:
        """Re-read active strategies; keep the due time of those whose schedule is unchanged."""
        now = self._clock()
        entries: dict[UUID, _Entry] = {}
        for stored in await self._load():
            if not stored.definition.active:
                continue
            known = self._entries.get(stored.id)
            schedule = stored.definition.schedule
            if known is not None and known.definition.schedule == schedule:
                entries[stored.id] = _Entry(stored.definition, stored.version, known.due)
            else:
                entries[stored.id] = _Entry(
                    stored.definition, stored.version, next_fire(schedule.cron, schedule.timezone, now)
                )
        added = entries.keys() - self._entries.keys()
        removed = self._entries.keys() - entries.keys()
        if added or removed:
            log.info("schedule_reloaded", strategies=len(entries), added=len(added), removed=len(removed))
        self._entries = entries

    async def fire_due(self) -> int:
        """Publish every run due by now; returns how many were published."""
        now = self._clock()
        fired = 0
        for strategy_id, entry in self._entries.items():
            while entry.due <= now:
                schedule = entry.definition.schedule
                if now - entry.due <= self._misfire_grace:
                    # a failed publish raises before the due time moves on, so it is retried
                    await self._publish(scheduled_request(strategy_id, entry.definition, entry.due))
                    log.info("execution_scheduled", strategy_id=str(strategy_id), due=entry.due.isoformat())
                    fired += 1
                else:
                    log.warning("run_skipped_too_late", strategy_id=str(strategy_id), due=entry.due.isoformat())
                entry.due = next_fire(schedule.cron, schedule.timezone, entry.due)
        return fired

    def seconds_until_next(self) -> float:
        """How long to sleep: until the earliest due time, at most the reload interval."""
        if not self._entries:
            return self._reload_seconds
        earliest = min(entry.due for entry in self._entries.values())
        return max(0.0, min(self._reload_seconds, (earliest - self._clock()).total_seconds()))

    async def run(self) -> None:
        """Run until cancelled; a failure to load or publish is logged and retried shortly."""
        last_reload = -float("inf")
        pause = 0.0
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout=max(pause, self.seconds_until_next()))
            try:
                if self._changed.is_set() or time.monotonic() - last_reload >= self._reload_seconds:
                    self._changed.clear()
                    await self.reload()
                    last_reload = time.monotonic()
                await self.fire_due()
                pause = 0.0
            except Exception as error:
                log.warning("scheduler_retrying", error=f"{type(error).__name__}: {error}", retry_in_seconds=1.0)
                pause = 1.0
