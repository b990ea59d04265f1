"""Wiring of the scheduler: strategies from Postgres, change notifications, the publishing loop."""

from __future__ import annotations

from typing import Any

import asyncpg
import structlog

from tradelane.runtime.service import Service
from tradelane.runtime.settings import Settings
from tradelane.scheduler.loop import Clock, Scheduler, utc_clock
from tradelane.store.migrate import migrate
from tradelane.store.pool import create_pool
from tradelane.store.strategies import StrategyRepository

log = structlog.get_logger(__name__)

CHANGES_CHANNEL = "strategies_changed"


class SchedulerSettings(Settings):
    scheduler_reload_seconds: float = 30.0


def build(settings: SchedulerSettings | None = None, *, clock: Clock = utc_clock) -> Service:
    """The scheduler service: no consumer, one loop that publishes ExecutionRequested at ``clock``'s times."""
    settings = settings or SchedulerSettings()
    service = Service("scheduler", settings)

    @service.on_start
    async def start_loop() -> None:
        pool = await create_pool(settings.database_url)
        service.resources.push_async_callback(pool.close)
        await migrate(pool)
        scheduler = Scheduler(
            StrategyRepository(pool),
            service.bus.publish_many,
            clock=clock,
            reload_seconds=settings.scheduler_reload_seconds,
        )
        listener: asyncpg.Connection[Any] = await asyncpg.connect(settings.database_url.get_secret_value())
        service.resources.push_async_callback(listener.close)
        await listener.add_listener(CHANGES_CHANNEL, lambda *_: scheduler.notify_changed())
        service.background.start(scheduler.run(), "scheduler-loop")

    return service
