"""Wiring of the signals ledger: its settings, its Postgres pool, its subscribers and its outcome round."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from tradelane.contracts.outcomes import OutcomeRecorded
from tradelane.ledger.config import LedgerSettings
from tradelane.ledger.handlers import SignalRecorder
from tradelane.ledger.kept_charts import ChartKeeper
from tradelane.ledger.outcomes import OutcomeJudge
from tradelane.runtime.injection import Context, NatsMessage
from tradelane.runtime.market_data import MarketData
from tradelane.runtime.service import Service
from tradelane.runtime.settings import Settings
from tradelane.runtime.streams import LEDGER_CONSUMERS
from tradelane.store.ledger import LedgerRepository
from tradelane.store.migrate import migrate
from tradelane.store.pool import create_pool
from tradelane.store.strategies import StrategyRepository

RECORDER = "signal_recorder"
JUDGE = "outcome_judge"
"""Where the start hook leaves the recorder and the judge in FastStream's context for the subscribers."""
Recorder = Annotated[SignalRecorder, Context(RECORDER)]
Judge = Annotated[OutcomeJudge, Context(JUDGE)]


def build(settings: Settings | None = None) -> Service:
    """The ledger: signals, order events and outcomes in; outcomes it judges out."""
    ledger_settings = LedgerSettings.model_validate(settings.model_dump()) if settings else LedgerSettings()
    # A signal it could not record is no failed execution: it only dead-letters, like the lineage.
    service = Service("ledger", ledger_settings, report_failures=False)
    signals, orders, outcomes = LEDGER_CONSUMERS

    @service.on_start
    async def open_database() -> None:
        pool = await create_pool(ledger_settings.database_url)
        service.resources.push_async_callback(pool.close)
        await migrate(pool)
        ledger = LedgerRepository(pool)
        interval = ledger_settings.ledger_outcome_interval_seconds
        judge = OutcomeJudge(
            ledger,
            service.bus,
            MarketData(service.broker.connection, ledger_settings.ledger_bars_timeout_seconds),
            interval=timedelta(seconds=interval),
            batch=ledger_settings.ledger_outcome_batch,
            hold_atr_multiple=ledger_settings.ledger_hold_atr_multiple,
        )
        recorder = SignalRecorder(ledger, StrategyRepository(pool), ChartKeeper(service.bus))
        service.context.set_global(RECORDER, recorder)
        service.context.set_global(JUDGE, judge)
        service.background.every(interval, judge.judge_due, "ledger-outcomes")

    @service.subscriber(signals)
    async def record_signal(body: dict[str, object], message: NatsMessage, recorder: Recorder) -> None:
        await recorder.on_signal(message.raw_message.subject, body)

    @service.subscriber(orders)
    async def record_order_event(body: dict[str, object], message: NatsMessage, judge: Judge) -> None:
        await judge.on_order_event(message.raw_message.subject, body)

    @service.subscriber(outcomes)
    async def record_outcome(msg: OutcomeRecorded, judge: Judge) -> None:
        await judge.on_outcome(msg)

    return service
