"""Wiring of the lineage service: its settings, its Postgres pool, its subscribers, its retention chore."""

from __future__ import annotations

from typing import Annotated

from tradelane.contracts.advisories import MaxDeliveriesAdvisory
from tradelane.lineage.advisories import ExhaustedDeliveries
from tradelane.lineage.handlers import LineageRecorder
from tradelane.lineage.retention import PRUNE_INTERVAL_SECONDS, prune_expired_detail
from tradelane.runtime.injection import Context, NatsMessage
from tradelane.runtime.service import Service
from tradelane.runtime.settings import Settings
from tradelane.runtime.streams import ADVISORY_CONSUMER, LINEAGE_CONSUMERS
from tradelane.store.lineage import LineageRepository
from tradelane.store.migrate import migrate
from tradelane.store.pool import create_pool

RECORDER = "lineage_recorder"
"""Where the start hook leaves the recorder in FastStream's context for the subscribers."""
Recorder = Annotated[LineageRecorder, Context(RECORDER)]
BATCH = 100
"""Messages each lineage subscriber fetches and records at once: their steps go in one transaction."""


def build(settings: Settings | None = None) -> Service:
    """The lineage service: one durable consumer per stream, all feeding the recorder."""
    settings = settings or Settings()
    # Lineage reports its own failures only to the dead-letter stream: a StepFailed about
    # lineage would come straight back to lineage.
    service = Service("lineage", settings, report_failures=False)

    @service.on_start
    async def open_database() -> None:
        pool = await create_pool(settings.database_url)
        service.resources.push_async_callback(pool.close)
        await migrate(pool)
        service.context.set_global(RECORDER, LineageRecorder(LineageRepository(pool)))

        async def prune() -> None:
            await prune_expired_detail(pool, settings.lineage_detail_window_days)

        service.background.every(PRUNE_INTERVAL_SECONDS, prune, "lineage-retention", at_once=True)

    for spec in LINEAGE_CONSUMERS:

        @service.subscriber(spec, batch=BATCH)
        async def record(body: dict[str, object], message: NatsMessage, recorder: Recorder) -> None:
            await recorder.on_message(body, message)

    exhausted = ExhaustedDeliveries(service.bus)

    @service.subscriber(ADVISORY_CONSUMER)
    async def dead_letter_exhausted(advisory: MaxDeliveriesAdvisory) -> None:
        await exhausted.on_advisory(advisory)

    return service
