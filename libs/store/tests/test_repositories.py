"""Repositories against a real PostgreSQL: strategies CRUD and idempotent lineage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest

from tradelane.contracts.strategy import Schedule, StrategyDefinition, SymbolRef
from tradelane.store.lineage import LineageRepository, StepRecord
from tradelane.store.migrate import migrate
from tradelane.store.strategies import StrategyNameTakenError, StrategyRepository, StrategySchedule


def _definition(name: str = "s", cron: str = "*/5 * * * *") -> StrategyDefinition:
    return StrategyDefinition(name=name, symbol=SymbolRef(symbol="AAPL"), schedule=Schedule(cron=cron))


async def test_migrations_apply_once(pool: asyncpg.Pool[Any]) -> None:
    assert await migrate(pool) == []


async def test_strategy_round_trip(pool: asyncpg.Pool[Any]) -> None:
    strategies = StrategyRepository(pool)
    created = await strategies.create(_definition())
    fetched = await strategies.get(created.id)
    assert fetched is not None
    assert fetched.definition == created.definition
    assert fetched.version == 1


async def test_update_raises_the_version(pool: asyncpg.Pool[Any]) -> None:
    strategies = StrategyRepository(pool)
    created = await strategies.create(_definition())
    updated = await strategies.update(created.id, _definition(cron="0 * * * *"))
    assert updated is not None
    assert updated.version == 2
    assert updated.definition.schedule.cron == "0 * * * *"


async def test_names_are_unique(pool: asyncpg.Pool[Any]) -> None:
    strategies = StrategyRepository(pool)
    await strategies.create(_definition("taken"))
    with pytest.raises(StrategyNameTakenError, match="taken"):
        await strategies.create(_definition("taken"))


async def test_delete_and_missing(pool: asyncpg.Pool[Any]) -> None:
    strategies = StrategyRepository(pool)
    created = await strategies.create(_definition())
    assert await strategies.delete(created.id)
    assert not await strategies.delete(created.id)
    assert await strategies.get(created.id) is None
    assert await strategies.update(created.id, _definition()) is None


async def test_the_scheduler_reads_active_schedules_and_definitions_by_id(pool: asyncpg.Pool[Any]) -> None:
    strategies = StrategyRepository(pool)
    running = await strategies.create(_definition("running", "0 * * * *"))
    paused = await strategies.create(_definition("paused").model_copy(update={"active": False}))
    assert await strategies.schedules() == [StrategySchedule(running.id, 1, "0 * * * *", "UTC")]
    found = await strategies.active_by_ids([running.id, paused.id, uuid4()])
    assert [(strategy.id, strategy.definition) for strategy in found] == [(running.id, running.definition)]


async def test_changes_are_notified_for_the_scheduler(pool: asyncpg.Pool[Any], database_url: str) -> None:
    listener = await asyncpg.connect(database_url)
    heard: list[str] = []
    await listener.add_listener("strategies_changed", lambda *args: heard.append(args[3]))
    created = await StrategyRepository(pool).create(_definition())
    await listener.execute("SELECT 1")
    await listener.close()
    assert heard == [str(created.id)]


def _record(execution_id: UUID, step: str, message_id: UUID, **overrides: Any) -> StepRecord:
    values: dict[str, Any] = {
        "execution_id": execution_id,
        "strategy_id": UUID(int=1),
        "step": step,
        "message_id": message_id,
        "causation_id": None,
        "subject": f"pipeline.{step}",
        "stream_sequence": 1,
        "status": "succeeded",
        "payload": {"step": step},
        "occurred_at": datetime.now(UTC),
        "duration_ms": 5.0,
    }
    return StepRecord(**(values | overrides))


async def test_a_redelivered_message_makes_no_second_row(pool: asyncpg.Pool[Any]) -> None:
    lineage = LineageRepository(pool)
    execution_id, message_id = uuid4(), uuid4()
    assert await lineage.record(_record(execution_id, "requested", message_id))
    assert not await lineage.record(_record(execution_id, "requested", message_id))
    detail = await lineage.execution(execution_id)
    assert detail is not None
    assert len(detail.steps) == 1


async def test_a_step_shows_the_message_it_consumed_as_its_input(pool: asyncpg.Pool[Any]) -> None:
    lineage = LineageRepository(pool)
    execution_id, first, second = uuid4(), uuid4(), uuid4()
    await lineage.record(_record(execution_id, "requested", first, payload={"n": 1}))
    await lineage.record(_record(execution_id, "market_data", second, causation_id=first, payload={"n": 2}))
    detail = await lineage.execution(execution_id)
    assert detail is not None
    assert [step.input for step in detail.steps] == [None, {"n": 1}]


async def test_terminal_status_is_kept_once_reached(pool: asyncpg.Pool[Any]) -> None:
    lineage = LineageRepository(pool)
    execution_id = uuid4()
    await lineage.record(_record(execution_id, "requested", uuid4()))
    await lineage.record(
        _record(execution_id, "indicators", uuid4(), status="failed", error="too few bars", execution_status="failed")
    )
    await lineage.record(_record(execution_id, "signal", uuid4(), execution_status="completed"))
    detail = await lineage.execution(execution_id)
    assert detail is not None
    assert detail.execution.status == "failed"
    assert detail.execution.error == "too few bars"


async def test_step_statistics(pool: asyncpg.Pool[Any]) -> None:
    lineage = LineageRepository(pool)
    for duration in (10.0, 20.0, 30.0):
        await lineage.record(_record(uuid4(), "chart", uuid4(), duration_ms=duration))
    await lineage.record(_record(uuid4(), "chart", uuid4(), status="failed", error="no chromium", duration_ms=None))
    stats = await lineage.step_statistics("chart", datetime.now(UTC) - timedelta(hours=1))
    assert (stats.count, stats.succeeded, stats.failed) == (4, 3, 1)
    assert stats.success_rate == 0.75
    assert (stats.duration_ms_min, stats.duration_ms_avg, stats.duration_ms_max) == (10.0, 20.0, 30.0)
    assert stats.top_errors == [("no chromium", 1)]


async def test_executions_filter_by_strategy_and_status(pool: asyncpg.Pool[Any]) -> None:
    lineage = LineageRepository(pool)
    mine = UUID(int=7)
    await lineage.record(_record(uuid4(), "requested", uuid4(), strategy_id=mine))
    await lineage.record(_record(uuid4(), "requested", uuid4()))
    assert len(await lineage.executions(strategy_id=mine)) == 1
    assert len(await lineage.executions(status="running")) == 2
    assert await lineage.executions(status="failed") == []


async def test_a_dead_lettered_input_is_not_shown_twice(pool: asyncpg.Pool[Any]) -> None:
    """A dead letter keeps the message_id of the message it copies; it must not join as an input."""
    lineage = LineageRepository(pool)
    execution_id, request, failure = uuid4(), uuid4(), uuid4()
    await lineage.record(_record(execution_id, "requested", request, subject="pipeline.execution.requested"))
    await lineage.record(
        _record(execution_id, "dead_letter", request, subject="deadletter.pipeline.execution.requested")
    )
    await lineage.record(_record(execution_id, "market_data", failure, causation_id=request, status="failed"))
    detail = await lineage.execution(execution_id)
    assert detail is not None
    assert [step.step for step in detail.steps] == ["requested", "dead_letter", "market_data"]


async def test_a_skipped_step_is_stored_with_its_reason(pool: asyncpg.Pool[Any]) -> None:
    """Migration 007 lets a step be 'skipped' (a signal the broker did not trade, with why)."""
    lineage = LineageRepository(pool)
    execution_id = uuid4()
    await lineage.record(_record(execution_id, "requested", uuid4()))
    skipped = _record(execution_id, "signal_skipped", uuid4(), status="skipped", error="a replay places no orders")
    assert await lineage.record(skipped)
    detail = await lineage.execution(execution_id)
    assert detail is not None
    assert [(step.step, step.status, step.error) for step in detail.steps][-1] == (
        "signal_skipped",
        "skipped",
        "a replay places no orders",
    )
