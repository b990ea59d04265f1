"""The lineage fetches messages in batches and records a batch in one transaction, yet decides for each message."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg
from faststream.nats import NatsBroker
from nats.aio.client import Client as NatsClient

from tests.support.waiting import eventually
from tradelane.contracts import subjects
from tradelane.contracts.events import ExecutionRequested, Trigger
from tradelane.contracts.strategy import StrategyDefinition, SymbolRef
from tradelane.lineage.app import build
from tradelane.runtime.bus import event_headers
from tradelane.runtime.deadletters import list_dead_letters
from tradelane.runtime.settings import Settings


def _request() -> ExecutionRequested:
    return ExecutionRequested(
        execution_id=uuid4(),
        strategy_id=uuid4(),
        strategy=StrategyDefinition(name="s", symbol=SymbolRef(symbol="AAPL")),
        trigger=Trigger.MANUAL,
        as_of=datetime(2026, 11, 20, tzinfo=UTC),
    )


async def _recorded(pool: asyncpg.Pool[Any], execution_ids: list[UUID]) -> int:
    count: int = await pool.fetchval(
        "SELECT count(*) FROM lineage.steps WHERE execution_id = ANY($1::uuid[])", execution_ids
    )
    return count


async def test_a_message_postgresql_refuses_is_dead_lettered_and_the_rest_of_its_batch_recorded(
    nats_broker: NatsBroker, nats_client: NatsClient, settings: Settings, pool: asyncpg.Pool[Any]
) -> None:
    """Published before the lineage starts, the messages come in one batch; one holds a NUL character."""
    js = nats_client.jetstream()
    requests = [_request() for _ in range(6)]
    unstorable = requests[3]
    for request in requests:
        body = request.model_dump(mode="json")
        if request is unstorable:
            body["strategy"]["description"] = "nul \x00 here"
        await js.publish(subjects.EXECUTION_REQUESTED, json.dumps(body).encode(), headers=event_headers(request))
    lineage = build(settings)
    await lineage.start()
    try:
        stored = [request.execution_id for request in requests if request is not unstorable]

        async def others_recorded() -> bool:
            return await _recorded(pool, stored) == len(stored)

        await eventually(others_recorded, "the other five recorded", timeout=10)
        [dead] = await eventually(lambda: list_dead_letters(js), "the unstorable message dead-lettered", timeout=10)
    finally:
        await lineage.close()
    assert (dead.subject, dead.step, dead.kind) == (subjects.EXECUTION_REQUESTED, "lineage", "permanent")
    assert dead.error is not None
    assert "the lineage cannot store this message" in dead.error
    assert dead.body is not None
    assert dead.body["execution_id"] == str(unstorable.execution_id)
    assert await _recorded(pool, [unstorable.execution_id]) == 0
