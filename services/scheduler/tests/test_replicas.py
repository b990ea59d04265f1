"""Two scheduler replicas against real PostgreSQL and NATS: a new strategy is noticed at once
and each due time starts exactly one execution."""

from __future__ import annotations

import json

import pytest
from nats.aio.client import Client as NatsClient

from tests.support.messages import collect
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
    heard = await collect(nats_client, subjects.EXECUTION_REQUESTED)
    pool = await create_pool(settings.database_url)
    try:
        # created after both replicas loaded their (empty) schedule: only NOTIFY can tell them
        stored = await StrategyRepository(pool).create(
            StrategyDefinition(
                name="every-minute", symbol=SymbolRef(symbol="AAPL"), schedule=Schedule(cron="* * * * *")
            )
        )
        # the next minute starts within 60 s; both replicas fire at it
        both = [json.loads(msg.data) for msg in await heard.take(2, timeout=71.5)]
        info = await nats_client.jetstream().stream_info(subjects.PIPELINE_STREAM)
        stored_message = await nats_client.jetstream().get_msg(subjects.PIPELINE_STREAM, 1)
    finally:
        await pool.close()
        for replica in replicas:
            await replica.close()
    # both replicas published (a core subscriber hears both); the stream kept one
    assert len(heard.messages) == 2
    assert both[0]["message_id"] == both[1]["message_id"]
    assert info.state.messages == 1
    body = json.loads(stored_message.data or b"{}")
    assert (body["strategy_id"], body["trigger"]) == (str(stored.id), "schedule")
