"""Dead letters in the lineage against real NATS and Postgres: advisories, redrives, bad copies, unstorable messages."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest
from faststream.nats import NatsBroker
from nats.aio.client import Client as NatsClient
from nats.errors import TimeoutError as NatsTimeoutError

from tests.support.waiting import consistently, eventually
from tradelane.contracts import subjects
from tradelane.contracts.events import BarsFetched, ExecutionRequested, StepFailed, Trigger
from tradelane.contracts.market import Bar, ResolvedSymbol
from tradelane.contracts.strategy import AssetType, BarSize, StrategyDefinition, SymbolRef
from tradelane.lineage.app import build
from tradelane.runtime.bus import dedup_headers, event_headers
from tradelane.runtime.deadletters import list_dead_letters, redrive
from tradelane.runtime.payloads import bars_window
from tradelane.runtime.service import Service
from tradelane.runtime.settings import Settings


@pytest.fixture
def fast_settings(settings: Settings) -> Settings:
    """A crash loop runs out of its few JetStream deliveries (``consumer_max_deliver``), one second apart."""
    return settings.model_copy(update={"max_deliver": 1, "retry_horizon_seconds": 0.1, "ack_wait_seconds": 1.0})


@pytest.fixture
async def lineage(fast_settings: Settings) -> AsyncIterator[Service]:
    service = build(fast_settings)
    await service.start()
    yield service
    await service.close()


def _request() -> ExecutionRequested:
    return ExecutionRequested(
        execution_id=uuid4(),
        strategy_id=uuid4(),
        strategy=StrategyDefinition(name="s", symbol=SymbolRef(symbol="AAPL")),
        trigger=Trigger.MANUAL,
        as_of=datetime(2026, 11, 20, tzinfo=UTC),
    )


def _bars(request: ExecutionRequested) -> BarsFetched:
    return request.follow(
        BarsFetched,
        strategy=request.strategy,
        symbol=ResolvedSymbol(conid=1, symbol="AAPL", exchange="NASDAQ", currency="USD", asset_type=AssetType.STOCK),
        bars=bars_window(1, BarSize.DAY_1, (Bar(time=request.as_of, open=1, high=2, low=0.5, close=1.5, volume=10),)),
        provider="test",
    )


async def _publish(client: NatsClient, subject: str, event: Any, headers: dict[str, str] | None = None) -> int:
    ack = await client.jetstream().publish(
        subject, event.model_dump_json().encode(), headers={**event_headers(event), **(headers or {})}
    )
    return ack.seq


async def _status(pool: asyncpg.Pool[Any], execution_id: UUID) -> str | None:
    status: str | None = await pool.fetchval(
        "SELECT status FROM lineage.executions WHERE execution_id = $1", execution_id
    )
    return status


async def _recorded(pool: asyncpg.Pool[Any], execution_ids: list[UUID]) -> int:
    count: int = await pool.fetchval(
        "SELECT count(*) FROM lineage.steps WHERE execution_id = ANY($1::uuid[])", execution_ids
    )
    return count


async def _steps(pool: asyncpg.Pool[Any], execution_id: UUID) -> list[tuple[str, str]]:
    rows = await pool.fetch("SELECT step, status FROM lineage.steps WHERE execution_id = $1 ORDER BY id", execution_id)
    return [(row["step"], row["status"]) for row in rows]


async def test_a_dead_letter_of_no_execution_is_kept_once_not_dead_lettered_again(
    lineage: Service, nats_client: NatsClient
) -> None:
    js = nats_client.jetstream()
    await js.publish(subjects.dead_letter(subjects.EXECUTION_REQUESTED), json.dumps({"no": "envelope"}).encode())

    async def kept_once() -> bool:
        return (await js.stream_info(subjects.DEAD_LETTER_STREAM)).state.messages == 1

    await consistently(kept_once, "one message in the dead-letter stream while lineage reads it", seconds=1.5)


async def test_a_message_that_ran_out_of_deliveries_unacknowledged_is_dead_lettered(
    lineage: Service, nats_client: NatsClient, pool: asyncpg.Pool[Any], fast_settings: Settings
) -> None:
    """A crash loop (delivered, never acked, every time) ends in the dead-letter stream and fails the execution."""
    request = _request()
    await _publish(nats_client, subjects.EXECUTION_REQUESTED, request)
    bars = _bars(request)
    sequence = await _publish(nats_client, subjects.MARKET_DATA_FETCHED, bars)
    js = nats_client.jetstream()
    crashing = await js.pull_subscribe_bind("indicators", subjects.PIPELINE_STREAM)
    deliveries = fast_settings.retry_rules.consumer_max_deliver()
    assert deliveries <= 5
    for _ in range(deliveries):
        delivered = await crashing.fetch(1, timeout=5)
        assert delivered[0].metadata.sequence.stream == sequence
    with pytest.raises(NatsTimeoutError):  # the restarted process asks again; the server has given up on it
        await crashing.fetch(1, timeout=2)

    async def dead_lettered() -> bool:
        return bool(await list_dead_letters(js))

    await eventually(dead_lettered, "the message in the dead-letter stream", timeout=10)
    [dead] = await list_dead_letters(js)
    assert (dead.subject, dead.step, dead.kind, dead.deliveries) == (
        subjects.MARKET_DATA_FETCHED,
        "indicators",
        "retries_exhausted",
        deliveries,
    )
    assert dead.original_sequence == sequence
    assert dead.message_id == str(bars.message_id)

    async def failed() -> bool:
        return await _status(pool, request.execution_id) == "failed"

    await eventually(failed, "the execution to fail", timeout=10)
    steps = await _steps(pool, request.execution_id)
    assert ("indicators", "failed") in steps
    assert ("dead_letter", "failed") in steps


async def test_a_redrive_reopens_the_failed_execution_and_its_later_steps_settle_it(
    lineage: Service, nats_client: NatsClient, pool: asyncpg.Pool[Any]
) -> None:
    request = _request()
    await _publish(nats_client, subjects.EXECUTION_REQUESTED, request)
    failure = request.follow(
        StepFailed, step="market_data", kind="retries_exhausted", error="provider down", input_subject="x", deliveries=5
    )
    await _publish(nats_client, subjects.STEP_FAILED, failure)
    await _publish(nats_client, subjects.dead_letter(subjects.EXECUTION_REQUESTED), request, dedup_headers(failure))

    async def failed() -> bool:
        recorded = await _steps(pool, request.execution_id)
        return await _status(pool, request.execution_id) == "failed" and len(recorded) == 3

    await eventually(failed, "the execution to fail", timeout=10)
    [dead] = await list_dead_letters(nats_client.jetstream())
    await redrive(nats_client.jetstream(), dead.id, max_payload=nats_client.max_payload)

    async def reopened() -> bool:
        return await _status(pool, request.execution_id) == "running"

    await eventually(reopened, "the redrive to reopen the execution", timeout=10)
    assert ("redriven", "succeeded") in await _steps(pool, request.execution_id)
    assert await list_dead_letters(nats_client.jetstream()) == []


async def test_a_message_postgresql_refuses_is_dead_lettered_and_the_rest_of_its_batch_recorded(
    nats_broker: NatsBroker, nats_client: NatsClient, fast_settings: Settings, pool: asyncpg.Pool[Any]
) -> None:
    """Published before the lineage starts, the messages come in one batch, one transaction; one holds a NUL."""
    js = nats_client.jetstream()
    requests = [_request() for _ in range(6)]
    unstorable = requests[3]
    for request in requests:
        body = request.model_dump(mode="json")
        if request is unstorable:
            body["strategy"]["description"] = "nul \x00 here"
        await js.publish(subjects.EXECUTION_REQUESTED, json.dumps(body).encode(), headers=event_headers(request))
    lineage = build(fast_settings)
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
