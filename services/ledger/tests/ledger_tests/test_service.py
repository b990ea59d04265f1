"""The ledger against real NATS and PostgreSQL: signals become rows once each, and get their outcomes.

The test's own NATS client stands in for the services around the ledger: the signal step and the
broker (it publishes their events) and market-data (it answers the ledger's bars requests with
hand-made bars).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Final
from uuid import uuid4

import asyncpg
import pytest
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from services.ledger.tests.ledger_tests.events import BTC, STRATEGY, order_filled, signal_generated, signal_rejected
from tests.support.waiting import eventually
from tradelane.contracts import subjects
from tradelane.contracts.envelope import BacktestTag, Envelope, utc_now
from tradelane.contracts.history import BarsReply, BarsRequest
from tradelane.contracts.market import Bar
from tradelane.contracts.outcomes import OutcomeKind, OutcomeRecorded
from tradelane.contracts.strategy import BarSize
from tradelane.contracts.trading import OrderRole
from tradelane.ledger.app import build
from tradelane.ledger.config import LedgerSettings
from tradelane.runtime.bus import MESSAGE_ID_HEADER, event_headers
from tradelane.runtime.service import Service
from tradelane.runtime.settings import Settings
from tradelane.runtime.streams import LEDGER_CONSUMERS
from tradelane.store.ledger import LedgerOutcome, LedgerRepository, SignalQuery
from tradelane.store.strategies import StrategyRepository

DECIDED_AT = datetime(2025, 1, 2, 21, 0, tzinfo=UTC)

MINUTE: Final = timedelta(minutes=1)


@pytest.fixture
async def ledger(settings: Settings) -> AsyncIterator[Service]:
    """The ledger, looking for due outcomes five times a second."""
    service = build(LedgerSettings.model_validate({**settings.model_dump(), "ledger_outcome_interval_seconds": 0.2}))
    await service.start()
    yield service
    await service.close()


async def publish(client: NatsClient, event: Envelope, *, again: bool = False, subject: str | None = None) -> None:
    """Publish ``event`` on its subject (or on ``subject``); ``again``: a second copy that JetStream's de-duplication
    does not drop."""
    subject = subject or subjects.subject_for(event)
    headers = event_headers(event)
    if again:
        headers[MESSAGE_ID_HEADER] += "-again"
    await client.jetstream().publish(
        subject, event.model_dump_json().encode(), headers=headers, stream=subjects.stream_of(subject)
    )


async def acked_all(client: NatsClient, durable: str, delivered: int, stream: str = subjects.PIPELINE_STREAM) -> None:
    async def done() -> bool:
        info = await client.jetstream().consumer_info(stream, durable)
        return bool(info.delivered.consumer_seq >= delivered and info.num_pending == 0 and info.num_ack_pending == 0)

    await eventually(done, f"{durable} acked {delivered} messages")


async def test_signals_are_recorded_once_with_the_strategy_version_that_made_them(
    ledger: Service, nats_client: NatsClient, pool: asyncpg.Pool[Any]
) -> None:
    stored = await StrategyRepository(pool).create(STRATEGY)
    edited = STRATEGY.model_copy(update={"duration": "2 D"})
    generated = signal_generated(strategy_id=stored.id)
    from_an_edited_strategy = signal_generated(strategy_id=stored.id, strategy=edited)
    rejected = signal_rejected()
    for event in (generated, from_an_edited_strategy, rejected):
        await publish(nats_client, event)
    await publish(nats_client, generated, again=True)
    signals = LEDGER_CONSUMERS[0]
    await acked_all(nats_client, signals.durable, delivered=4)

    rows = {row.signal_id: row for row in await LedgerRepository(pool).signals(SignalQuery())}
    assert set(rows) == {generated.message_id, from_an_edited_strategy.message_id, rejected.message_id}
    assert rows[generated.message_id].strategy_version == stored.version
    assert rows[from_an_edited_strategy.message_id].strategy_version is None
    assert (rows[rejected.message_id].status, rows[rejected.message_id].rule) == ("rejected", "min_risk_reward")


def _bar(at: datetime, open_: str, high: str, low: str, close: str) -> Bar:
    return Bar(time=at, open=float(open_), high=float(high), low=float(low), close=float(close), volume=1)


async def test_an_untraded_signal_gets_its_shadow_outcome_from_the_bars_market_data_sends(
    ledger: Service, nats_client: NatsClient, pool: asyncpg.Pool[Any]
) -> None:
    """A BUY at 100 (stop 99, first target 102): the second bar after it reaches 102, so it made 2R."""
    made_at = utc_now().replace(second=0, microsecond=0) - timedelta(minutes=10)
    generated = signal_generated(at=made_at)
    asked: list[BarsRequest] = []

    async def answer(msg: Msg) -> None:
        request = BarsRequest.model_validate_json(msg.data)
        asked.append(request)
        bars = (_bar(made_at, "100", "101", "99.5", "100.5"), _bar(made_at + MINUTE, "100.5", "102.5", "100", "102"))
        await msg.respond(BarsReply(bars=bars).model_dump_json().encode())

    await nats_client.subscribe(subjects.MARKET_DATA_BARS, cb=answer)
    await publish(nats_client, generated)
    repository = LedgerRepository(pool)

    async def shadow_outcome() -> list[LedgerOutcome]:
        return (await repository.outcomes_of([generated.message_id])).get(generated.message_id, [])

    [outcome] = await eventually(shadow_outcome, "the shadow outcome")
    assert (outcome.source, outcome.kind, outcome.r_multiple, outcome.hit) == ("shadow", "target", Decimal(2), True)
    assert (outcome.exit_price, outcome.exit_at, outcome.bars) == (Decimal(102), made_at + MINUTE, 2)
    assert (asked[0].symbol.conid, asked[0].bar_size, asked[0].start) == (BTC.conid, BarSize.MIN_1, made_at)

    stored = await nats_client.jetstream().get_last_msg(subjects.PIPELINE_STREAM, subjects.OUTCOME_RECORDED)
    assert stored.data is not None
    event = OutcomeRecorded.model_validate_json(stored.data)
    await publish(nats_client, event, again=True)
    outcomes = LEDGER_CONSUMERS[2]
    await acked_all(nats_client, outcomes.durable, delivered=2)
    assert await shadow_outcome() == [outcome], "an outcome heard twice is recorded once"


async def test_a_traded_signal_gets_its_outcome_from_its_fills(
    ledger: Service, nats_client: NatsClient, pool: asyncpg.Pool[Any]
) -> None:
    """Entered 10 at 100, left at 102 by the take-profit: 2R, 20 made less 2 of commission."""
    generated = signal_generated()
    now = utc_now()
    repository = LedgerRepository(pool)
    await publish(nats_client, generated)
    await eventually(lambda: repository.signal(generated.message_id), "the signal in the ledger")
    await publish(
        nats_client, order_filled(generated, OrderRole.ENTRY, quantity=Decimal(10), price=Decimal(100), at=now)
    )
    exit_fill = order_filled(generated, OrderRole.TAKE_PROFIT, quantity=Decimal(10), price=Decimal(102), at=now)
    await publish(nats_client, exit_fill)

    async def outcomes() -> list[LedgerOutcome]:
        return (await repository.outcomes_of([generated.message_id])).get(generated.message_id, [])

    [outcome] = await eventually(outcomes, "the traded outcome")
    assert (outcome.source, outcome.kind, outcome.r_multiple, outcome.hit) == ("traded", "target", Decimal(2), True)
    assert (outcome.exit_price, outcome.quantity) == (Decimal(102), Decimal(10))
    assert outcome.exit_at == exit_fill.fill.filled_at
    assert (outcome.pnl, outcome.fees) == (Decimal(18), Decimal(2))
    looked_at = await pool.fetchval(
        "SELECT next_check_at FROM ledger.signals WHERE signal_id = $1", generated.message_id
    )
    assert looked_at is None, "a traded signal is looked at for no shadow outcome"


async def test_nothing_of_a_backtest_is_recorded(
    ledger: Service, nats_client: NatsClient, pool: asyncpg.Pool[Any]
) -> None:
    """A backtest's signals, order events and outcomes are acked and left out; a live signal beside them is recorded.

    Backtests' signals have subjects of their own, which the ledger does not consume; these go on the live subjects
    (as a signals service of an older version publishes them) to reach the ledger's own check of the tag.
    """
    tag = BacktestTag(backtest_id=uuid4(), variant="base", seq=0, decided_at=DECIDED_AT)
    generated = signal_generated().model_copy(update={"backtest": tag})
    rejected = signal_rejected().model_copy(update={"backtest": tag})
    await publish(nats_client, generated, subject=subjects.SIGNAL_GENERATED)
    await publish(nats_client, rejected, subject=subjects.SIGNAL_REJECTED)
    fill = order_filled(generated, OrderRole.ENTRY, quantity=Decimal(10), price=Decimal(100), at=utc_now())
    outcome = OutcomeRecorded(
        execution_id=generated.execution_id,
        strategy_id=generated.strategy_id,
        signal_id=generated.message_id,
        source="shadow",
        kind=OutcomeKind.TARGET,
        hit=True,
        backtest=tag,
    )
    live = signal_generated()
    for event in (fill.model_copy(update={"backtest": tag}), outcome, live):
        await publish(nats_client, event)
    signals, orders, outcomes = LEDGER_CONSUMERS
    await acked_all(nats_client, signals.durable, delivered=3)
    await acked_all(nats_client, orders.durable, delivered=1, stream=subjects.TRADING_STREAM)
    await acked_all(nats_client, outcomes.durable, delivered=1)

    rows = await LedgerRepository(pool).signals(SignalQuery())
    assert [row.signal_id for row in rows] == [live.message_id]
    for table in ("orders", "fills", "outcomes"):
        assert await pool.fetchval(f"SELECT count(*) FROM ledger.{table}") == 0, table
