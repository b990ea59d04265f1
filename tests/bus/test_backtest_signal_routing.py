"""A backtest's signals reach the backtester and the lineage, never the broker, the ledger or the notifier; the
signals of executions that are no backtest's never reach the backtester.

The real signals service (which decides the subject as it publishes) and the real lineage service run in this
process on a real NATS and PostgreSQL. The test pulls from the other services' real durable consumers what each
would be handed, in stream order: the signals service answers one analysis at a time, so its signals are stored in
the order the analyses were published, and a consumer that matched an earlier signal would hand it out first.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import nats.errors
import pytest
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from tests.support.waiting import eventually
from tradelane.contracts import subjects
from tradelane.contracts.envelope import BacktestTag, Envelope
from tradelane.contracts.events import Analysis, AnalysisCompleted, Bias
from tradelane.contracts.market import MarketSnapshot, ResolvedSymbol
from tradelane.contracts.strategy import AssetType, BarSize, StrategyDefinition
from tradelane.lineage.app import build as build_lineage
from tradelane.runtime.bus import event_headers
from tradelane.runtime.settings import Settings
from tradelane.runtime.streams import (
    BACKTESTER_CONSUMERS,
    BROKER_CONSUMER,
    LEDGER_CONSUMERS,
    NOTIFIER_CONSUMERS,
    ConsumerSpec,
)
from tradelane.signals.app import build as build_signals

DECIDED_AT = datetime(2025, 3, 3, 21, 0, tzinfo=UTC)
AAPL = ResolvedSymbol(conid=265598, symbol="AAPL", exchange="NASDAQ", currency="USD", asset_type=AssetType.STOCK)
SNAPSHOT = MarketSnapshot(
    symbol=AAPL,
    bar_size=BarSize.DAY_1,
    last_bar_time=DECIDED_AT,
    last_close=100.5,
    recent_bars=(),
    latest={},
    previous={},
)
"""No bars: a neutral analysis holds (SignalGenerated), a bullish one is rejected as it has no ATR (SignalRejected)."""

BACKTESTER_SIGNALS, LEDGER_SIGNALS, NOTIFIER_SIGNALS = (
    next(spec for spec in consumers if spec.durable == durable)
    for consumers, durable in (
        (BACKTESTER_CONSUMERS, "backtester-signals"),
        (LEDGER_CONSUMERS, "ledger-signals"),
        (NOTIFIER_CONSUMERS, "notifier-signals"),
    )
)


@pytest.fixture
async def signals_and_lineage(settings: Settings) -> AsyncIterator[None]:
    signals, lineage = build_signals(settings), build_lineage(settings)
    await signals.start()
    await lineage.start()
    yield
    await lineage.close()
    await signals.close()


def _analysis(bias: Bias, backtest: BacktestTag | None) -> AnalysisCompleted:
    return AnalysisCompleted(
        execution_id=uuid4(),
        strategy_id=uuid4(),
        strategy=StrategyDefinition.model_validate({"name": "routing", "symbol": {"symbol": "AAPL"}}),
        snapshot=SNAPSHOT,
        analysis=Analysis(bias=bias, trend="sideways", confidence=70, model="offline-rules-v1"),
        backtest=backtest,
    )


async def _handed_out(js: JetStreamContext, consumer: ConsumerSpec, until: UUID) -> list[UUID]:
    """The executions of the messages ``consumer`` hands out, in order, up to the one of execution ``until`` (acked)."""
    subscription = await js.pull_subscribe_bind(consumer.durable, consumer.stream)
    executions: list[UUID] = []
    try:
        while until not in executions:
            try:
                [msg] = await subscription.fetch(1, timeout=15)
            except nats.errors.TimeoutError:
                reason = f"{consumer.durable} handed out {executions}, then nothing within 15 s; waited for {until}"
                raise AssertionError(reason) from None
            executions.append(Envelope.model_validate_json(msg.data).execution_id)
            await msg.ack_sync()
    finally:
        await subscription.unsubscribe()
    return executions


async def _lineage_of(pool: asyncpg.Pool[Any], execution_id: UUID) -> tuple[str, str, str] | None:
    """The signal step's subject and status, and the execution's status, once the lineage has the signal."""
    row = await pool.fetchrow(
        "SELECT s.subject, s.status, e.status AS execution_status FROM lineage.steps s"
        " JOIN lineage.executions e USING (execution_id) WHERE s.execution_id = $1 AND s.step = 'signal'",
        execution_id,
    )
    return None if row is None else (row["subject"], row["status"], row["execution_status"])


@pytest.mark.usefixtures("signals_and_lineage")
async def test_a_backtests_signals_reach_the_backtester_and_the_lineage_and_no_consumer_of_live_signals(
    nats_client: NatsClient, pool: asyncpg.Pool[Any]
) -> None:
    tag = BacktestTag(backtest_id=uuid4(), variant="base", seq=0, decided_at=DECIDED_AT)
    live_rejected = _analysis("bullish", None)
    backtest_generated = _analysis("neutral", tag)
    backtest_rejected = _analysis("bullish", tag.model_copy(update={"seq": 1}))
    live_generated = _analysis("neutral", None)
    backtest_last = _analysis("neutral", tag.model_copy(update={"seq": 2}))
    js = nats_client.jetstream()
    for analysis in (live_rejected, backtest_generated, backtest_rejected, live_generated, backtest_last):
        await js.publish(
            subjects.ANALYSIS_COMPLETED,
            analysis.model_dump_json().encode(),
            headers=event_headers(analysis),
            stream=subjects.PIPELINE_STREAM,
        )

    backtests = [backtest_generated.execution_id, backtest_rejected.execution_id, backtest_last.execution_id]
    assert await _handed_out(js, BACKTESTER_SIGNALS, until=backtests[-1]) == backtests
    # every signal is stored now (the backtester's last one is the last published): the live consumers had their
    # chance at the backtest's
    live = live_generated.execution_id
    for consumer in (BROKER_CONSUMER, NOTIFIER_SIGNALS):
        assert await _handed_out(js, consumer, until=live) == [live], consumer.durable
    ledger = await _handed_out(js, LEDGER_SIGNALS, until=live)
    assert ledger == [live_rejected.execution_id, live]
    for consumer in (BROKER_CONSUMER, NOTIFIER_SIGNALS, LEDGER_SIGNALS, BACKTESTER_SIGNALS):
        info = await js.consumer_info(consumer.stream, consumer.durable)
        assert (info.num_pending, info.num_ack_pending) == (0, 0), consumer.durable

    recorded = await eventually(lambda: _lineage_of(pool, backtest_generated.execution_id), "the lineage's signal")
    assert recorded == (subjects.SIGNAL_GENERATED_BACKTEST, "succeeded", "completed")
    recorded = await eventually(lambda: _lineage_of(pool, backtest_rejected.execution_id), "the lineage's rejection")
    assert recorded == (subjects.SIGNAL_REJECTED_BACKTEST, "rejected", "rejected")
