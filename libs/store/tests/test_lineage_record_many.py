"""Recording many lineage steps in one transaction leaves what recording them one after the other would."""

from __future__ import annotations

from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4, uuid5

import asyncpg
import pytest

from tradelane.store.lineage import LineageRepository, StepRecord

T0 = datetime(2026, 11, 20, 15, tzinfo=UTC)
STRATEGY = UUID(int=7)


def _scenario(executions: list[UUID]) -> list[StepRecord]:
    """Three executions' messages interleaved: a late trigger and replay_of, two endings, a message twice."""
    first, second, third = executions

    def step(execution_id: UUID, name: str, minute: int, **overrides: Any) -> StepRecord:
        values: dict[str, Any] = {
            "execution_id": execution_id,
            "strategy_id": STRATEGY,
            "step": name,
            "message_id": uuid5(execution_id, name),
            "causation_id": None,
            "subject": f"pipeline.{name}",
            "stream_sequence": minute,
            "status": "succeeded",
            "payload": {"step": name},
            "occurred_at": T0 + timedelta(minutes=minute),
        }
        return StepRecord(**(values | overrides))

    replayed = UUID(int=99)
    return [
        step(first, "market_data", 2),
        step(first, "requested", 1, trigger="schedule"),
        step(second, "indicators", 5, replay_of=replayed, trigger="replay"),
        step(first, "indicators", 3, status="failed", error="too few bars", execution_status="failed"),
        step(second, "requested", 4, trigger="manual"),
        step(first, "signal", 4, execution_status="completed"),
        step(third, "requested", 6, strategy_id=UUID(int=8)),
        step(third, "requested", 6, strategy_id=UUID(int=8)),
        step(second, "signal", 7, status="rejected", execution_status="rejected"),
        step(third, "market_data", 7, strategy_id=UUID(int=9)),
    ]


async def _state(lineage: LineageRepository, execution_id: UUID) -> dict[str, Any]:
    detail = await lineage.execution(execution_id)
    assert detail is not None
    summary = asdict(detail.execution)
    del summary["execution_id"]
    return {
        "execution": summary,
        "steps": [(step.step, step.status, step.error, step.output) for step in detail.steps],
    }


async def test_a_group_leaves_what_recording_its_steps_one_after_the_other_leaves(pool: asyncpg.Pool[Any]) -> None:
    lineage = LineageRepository(pool)
    one_by_one, grouped = [uuid4(), uuid4(), uuid4()], [uuid4(), uuid4(), uuid4()]
    alone = [await lineage.record(record) for record in _scenario(one_by_one)]
    together = await lineage.record_many(_scenario(grouped))
    assert together == alone == [True] * 7 + [False] + [True] * 2
    for mine, theirs in zip(one_by_one, grouped, strict=True):
        assert await _state(lineage, theirs) == await _state(lineage, mine)


async def test_a_redelivered_ending_does_not_settle_a_reopened_execution_in_a_group(pool: asyncpg.Pool[Any]) -> None:
    """A message recorded before adds nothing, even when it ends its execution and the execution runs again."""
    lineage = LineageRepository(pool)
    execution_id = uuid4()
    mine = [record for record in _scenario([execution_id, uuid4(), uuid4()]) if record.execution_id == execution_id]
    requested, failed = (next(record for record in mine if record.step == name) for name in ("requested", "indicators"))
    assert failed.execution_status == "failed"
    await lineage.record_many([requested, failed])
    await lineage.reopen_for_redrive(execution_id, uuid4())
    assert await lineage.record_many([failed, requested]) == [False, False]
    summary = await lineage.execution_summary(execution_id)
    assert summary is not None
    assert summary.status == "running"


async def test_a_group_postgresql_refuses_leaves_nothing_behind(pool: asyncpg.Pool[Any]) -> None:
    """All or nothing: a step PostgreSQL cannot store (a NUL character in its JSON) fails its whole group."""
    lineage = LineageRepository(pool)
    good, bad = uuid4(), uuid4()
    records = _scenario([good, bad, uuid4()])[:5]
    unstorable = StepRecord(**(asdict(records[-1]) | {"payload": {"text": "nul \x00 here"}}))
    with pytest.raises(asyncpg.DataError):
        await lineage.record_many([*records[:-1], unstorable])
    assert await lineage.execution_summary(good) is None
    assert await lineage.execution_summary(bad) is None


async def test_a_step_stores_its_message_as_the_message_carried_it(pool: asyncpg.Pool[Any]) -> None:
    """The JSON text a message came as is stored as it is, rather than its decoded payload encoded again."""
    lineage = LineageRepository(pool)
    execution_id = uuid4()
    [requested] = [
        record
        for record in _scenario([execution_id, uuid4(), uuid4()])
        if record.execution_id == execution_id and record.step == "requested"
    ]
    await lineage.record_many([replace(requested, payload_json='{"as": "carried", "price": 1.25}')])
    detail = await lineage.execution(execution_id)
    assert detail is not None
    assert [step.output for step in detail.steps] == [{"as": "carried", "price": 1.25}]


async def test_a_later_step_leaves_its_executions_row_as_it_is(pool: asyncpg.Pool[Any]) -> None:
    """A step that changes nothing of its execution does not write the row again (a dead row version per step
    was most of PostgreSQL's work for a backtest); an earlier start, a trigger or ``replay_of`` still do."""
    lineage = LineageRepository(pool)
    execution_id = uuid4()
    first, second = (record for record in _scenario([execution_id, uuid4(), uuid4()])[:2])

    async def row_version() -> Any:
        return await pool.fetchval("SELECT xmin FROM lineage.executions WHERE execution_id = $1", execution_id)

    await lineage.record(first)  # market_data at minute 2, no trigger
    created = await row_version()
    await lineage.record(replace(first, step="indicators", message_id=uuid4(), occurred_at=T0 + timedelta(minutes=3)))
    assert await row_version() == created
    await lineage.record(second)  # requested at minute 1, trigger schedule
    assert await row_version() != created
    summary = await lineage.execution_summary(execution_id)
    assert summary is not None
    assert (summary.trigger, summary.started_at) == ("schedule", T0 + timedelta(minutes=1))
