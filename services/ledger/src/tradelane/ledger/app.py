"""Wiring of the signals ledger: its Postgres pool and its subscribers."""

from __future__ import annotations

from typing import Annotated

from faststream import Context
from faststream.nats.annotations import NatsMessage

from tradelane.ledger.handlers import SignalRecorder
from tradelane.runtime.service import Service
from tradelane.runtime.settings import Settings
from tradelane.runtime.streams import LEDGER_CONSUMERS
from tradelane.store.ledger import LedgerRepository
from tradelane.store.migrate import migrate
from tradelane.store.pool import create_pool
from tradelane.store.strategies import StrategyRepository

RECORDER = "signal_recorder"
"""Where the start hook leaves the recorder in FastStream's context for the subscriber."""
Recorder = Annotated[SignalRecorder, Context(RECORDER)]


def build(settings: Settings | None = None) -> Service:
    """The ledger: every signal event (generated or rejected) becomes one row."""
    settings = settings or Settings()
    # A signal it could not record is no failed execution: it only dead-letters, like the lineage.
    service = Service("ledger", settings, report_failures=False)
    (signals,) = LEDGER_CONSUMERS

    @service.on_start
    async def open_database() -> None:
        pool = await create_pool(settings.database_url)
        service.resources.push_async_callback(pool.close)
        await migrate(pool)
        service.context.set_global(RECORDER, SignalRecorder(LedgerRepository(pool), StrategyRepository(pool)))

    @service.subscriber(signals)
    async def record_signal(body: dict[str, object], message: NatsMessage, recorder: Recorder) -> None:
        await recorder.on_signal(message.raw_message.subject, body)

    return service
