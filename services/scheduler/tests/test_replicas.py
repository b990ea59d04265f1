"""Two scheduler replicas against real PostgreSQL and NATS: a new strategy is noticed at once
and each due time starts exactly one execution."""

from __future__ import annotations

import asyncio
import json

import pytest
from nats.aio.client import Client as NatsClient

from tradelane.contracts import subjects
from tradelane.contracts.strategy import Schedule, StrategyDefinition, SymbolRef
from tradelane.runtime.settings import Settings
from tradelane.scheduler.app import SchedulerSettings, build
from tradelane.store.pool import create_pool
from tradelane.store.strategies import StrategyRepository

pytestmark = pytest.mark.e2e


async def test_two_replicas_start_each_due_run_once(settings: Settings, nats_client: NatsClient) -> None:
    replica_settings = SchedulerSettings(**settings.model_dump(), scheduler_reload_seconds=300)
    replicas = [build(replica_settings), build(replica_settings)]
    for replica in replicas:
        await replica.start()
    heard: list[dict[str, object]] = []

    async def collect(msg: object) -> None:
        heard.append(json.loads(msg.data))  # type: ignore[attr-defined]

    await nats_client.subscribe(subjects.EXECUTION_REQUESTED, cb=collect)
    pool = await create_pool(settings.database_url)
    try:
        # created after both replicas loaded their (empty) schedule: only NOTIFY can tell them
        stored = await StrategyRepository(pool).create(
            StrategyDefinition(
                name="every-minute", symbol=SymbolRef(symbol="AAPL"), schedule=Schedule(cron="* * * * *")
            )
        )
        for _ in range(140):
            if heard:
                break
            await asyncio.sleep(0.5)
        assert heard, "no replica fired the strategy within 70 s"
        await asyncio.sleep(1.5)  # both replicas have fired by now
        info = await nats_client.jetstream().stream_info(subjects.PIPELINE_STREAM)
        stored_message = await nats_client.jetstream().get_msg(subjects.PIPELINE_STREAM, 1)
    finally:
        await pool.close()
        for replica in replicas:
            await replica.close()
    # both replicas published (a core subscriber hears both); the stream kept one
    assert len(heard) == 2
    assert heard[0]["message_id"] == heard[1]["message_id"]
    assert info.state.messages == 1
    body = json.loads(stored_message.data or b"{}")
    assert (body["strategy_id"], body["trigger"]) == (str(stored.id), "schedule")
