"""A signal's chart is copied into ``kept-charts`` when the ledger records the signal, so it outlives ``charts``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from nats.aio.client import Client as NatsClient
from nats.js.errors import NotFoundError

from services.ledger.tests.ledger_tests.events import signal_generated
from services.ledger.tests.ledger_tests.test_service import acked_all, publish
from tests.support.waiting import eventually
from tradelane.contracts import subjects
from tradelane.contracts.market import ObjectRef
from tradelane.ledger.app import build
from tradelane.runtime.bus import EventBus
from tradelane.runtime.service import Service
from tradelane.runtime.settings import Settings
from tradelane.runtime.streams import LEDGER_CONSUMERS
from tradelane.store.ledger import LedgerRepository, SignalQuery

PNG = b"\x89PNG\r\n\x1a\n the chart the analyst saw"


@pytest.fixture
async def ledger(settings: Settings) -> AsyncIterator[Service]:
    service = build(settings)
    await service.start()
    yield service
    await service.close()


async def test_a_signals_chart_is_copied_into_the_bucket_that_keeps_it(
    ledger: Service, nats_client: NatsClient, bus: EventBus
) -> None:
    chart = await bus.put_object(PNG, "image/png")
    generated = signal_generated()
    assert generated.provenance is not None
    with_chart = generated.provenance.model_copy(update={"chart_sha256": chart.name})
    await publish(nats_client, generated.model_copy(update={"provenance": with_chart}))
    kept = ObjectRef(bucket=subjects.KEPT_CHART_BUCKET, name=chart.name, size=0, content_type="image/png")

    async def copied() -> bytes | None:
        try:
            return await bus.get_object(kept)
        except NotFoundError:
            return None

    assert await eventually(copied, "the chart in kept-charts") == PNG


async def test_a_signal_whose_chart_is_gone_is_recorded_all_the_same(
    ledger: Service, nats_client: NatsClient, pool: asyncpg.Pool[Any]
) -> None:
    generated = signal_generated()
    assert generated.provenance is not None
    assert generated.provenance.chart_sha256 == "c" * 64  # never stored
    await publish(nats_client, generated)
    await acked_all(nats_client, LEDGER_CONSUMERS[0].durable, delivered=1)
    [row] = await LedgerRepository(pool).signals(SignalQuery())
    assert row.signal_id == generated.message_id
