"""The ledger against real NATS and PostgreSQL: signal events become rows, once each."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from nats.aio.client import Client as NatsClient

from services.ledger.tests.ledger_tests.events import STRATEGY, signal_generated, signal_rejected
from tests.support.waiting import eventually
from tradelane.contracts import subjects
from tradelane.contracts.envelope import Envelope
from tradelane.ledger.app import build
from tradelane.runtime.bus import MESSAGE_ID_HEADER, event_headers
from tradelane.runtime.service import Service
from tradelane.runtime.settings import Settings
from tradelane.runtime.streams import LEDGER_CONSUMERS
from tradelane.store.ledger import LedgerRepository, SignalQuery
from tradelane.store.strategies import StrategyRepository


@pytest.fixture
async def ledger(settings: Settings) -> AsyncIterator[Service]:
    service = build(settings)
    await service.start()
    yield service
    await service.close()


async def publish(client: NatsClient, event: Envelope, *, again: bool = False) -> None:
    """Publish ``event`` on its subject; ``again``: a second copy that JetStream's de-duplication does not drop."""
    subject = subjects.subject_for(event)
    headers = event_headers(event)
    if again:
        headers[MESSAGE_ID_HEADER] += "-again"
    await client.jetstream().publish(
        subject, event.model_dump_json().encode(), headers=headers, stream=subjects.stream_of(subject)
    )


async def acked_all(client: NatsClient, durable: str, delivered: int) -> None:
    async def done() -> bool:
        info = await client.jetstream().consumer_info(subjects.PIPELINE_STREAM, durable)
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
    (signals,) = LEDGER_CONSUMERS
    await acked_all(nats_client, signals.durable, delivered=4)

    rows = {row.signal_id: row for row in await LedgerRepository(pool).signals(SignalQuery())}
    assert set(rows) == {generated.message_id, from_an_edited_strategy.message_id, rejected.message_id}
    assert rows[generated.message_id].strategy_version == stored.version
    assert rows[from_an_edited_strategy.message_id].strategy_version is None
    assert (rows[rejected.message_id].status, rows[rejected.message_id].rule) == ("rejected", "min_risk_reward")
