"""Steps recorded at the same time share one transaction; each still gets its own outcome."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import asyncpg

from tradelane.lineage.group_commit import StepWriter
from tradelane.store.lineage import LineageRepository, StepRecord


def _step(**overrides: Any) -> StepRecord:
    values: dict[str, Any] = {
        "execution_id": uuid4(),
        "strategy_id": uuid4(),
        "step": "requested",
        "message_id": uuid4(),
        "causation_id": None,
        "subject": "pipeline.execution.requested",
        "stream_sequence": 1,
        "status": "succeeded",
        "payload": {"n": 1},
        "occurred_at": datetime(2026, 11, 20, 15, tzinfo=UTC),
    }
    return StepRecord(**(values | overrides))


async def _transactions_of(pool: asyncpg.Pool[Any], records: list[StepRecord]) -> int:
    """How many transactions stored these steps (``recorded_at`` is when its transaction began)."""
    count: int = await pool.fetchval(
        "SELECT count(DISTINCT recorded_at) FROM lineage.steps WHERE message_id = ANY($1::uuid[])",
        [record.message_id for record in records],
    )
    return count


async def test_steps_recorded_at_the_same_time_go_in_one_transaction(pool: asyncpg.Pool[Any]) -> None:
    writer = StepWriter(LineageRepository(pool))
    records = [_step() for _ in range(20)]
    assert await asyncio.gather(*(writer.record(record) for record in records)) == [True] * 20
    assert await _transactions_of(pool, records) == 1


async def test_a_redelivered_step_in_a_group_is_not_recorded_twice(pool: asyncpg.Pool[Any]) -> None:
    writer = StepWriter(LineageRepository(pool))
    first, second = _step(), _step()
    await writer.record(first)
    outcomes = await asyncio.gather(writer.record(second), writer.record(first), writer.record(second))
    assert list(outcomes) == [True, False, False]


async def test_a_step_postgresql_refuses_fails_alone_and_the_others_of_its_group_are_recorded(
    pool: asyncpg.Pool[Any],
) -> None:
    writer = StepWriter(LineageRepository(pool))
    records = [_step() for _ in range(5)]
    records[2] = replace(records[2], payload={"text": "nul \x00 here"})
    outcomes = await asyncio.gather(*(writer.record(record) for record in records), return_exceptions=True)
    assert outcomes[:2] == outcomes[3:] == [True, True]
    assert isinstance(outcomes[2], asyncpg.DataError)
    stored = await pool.fetchval(
        "SELECT count(*) FROM lineage.steps WHERE message_id = ANY($1::uuid[])", [r.message_id for r in records]
    )
    assert stored == 4
