"""What replays read from the lineage, and how a redrive reopens an execution, against a real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest

from tradelane.contracts import subjects
from tradelane.contracts.subjects import Step
from tradelane.store.lineage import LineageRepository, StepRecord
from tradelane.store.replay import (
    ReplayQueries,
    StepNotReachedError,
    UnknownExecutionError,
    message_to_replay,
    subjects_to_replay,
)

START = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
OUTPUTS = [
    ("requested", subjects.EXECUTION_REQUESTED),
    ("market_data", subjects.MARKET_DATA_FETCHED),
    ("indicators", subjects.INDICATORS_COMPUTED),
    ("chart", subjects.CHART_RENDERED),
    ("analysis", subjects.ANALYSIS_COMPLETED),
    ("signal", subjects.SIGNAL_GENERATED),
]


def _record(execution_id: UUID, index: int, step: str, subject: str, **overrides: Any) -> StepRecord:
    values: dict[str, Any] = {
        "execution_id": execution_id,
        "strategy_id": UUID(int=1),
        "step": step,
        "message_id": uuid4(),
        "causation_id": None,
        "subject": subject,
        "stream_sequence": 100 + index,
        "status": "succeeded",
        "payload": {"index": index},
        "occurred_at": START + timedelta(seconds=index),
    }
    return StepRecord(**(values | overrides))


async def _record_run(lineage: LineageRepository, execution_id: UUID, steps: int) -> list[StepRecord]:
    records = [_record(execution_id, i, step, subject) for i, (step, subject) in enumerate(OUTPUTS[:steps])]
    for record in records:
        await lineage.record(record)
    return records


async def test_the_messages_of_an_execution_come_in_the_order_they_happened(pool: asyncpg.Pool[Any]) -> None:
    execution_id = uuid4()
    records = await _record_run(LineageRepository(pool), execution_id, 6)
    messages = await ReplayQueries(pool).messages(execution_id)
    assert [m.message_id for m in messages] == [r.message_id for r in records]
    assert [m.stream_sequence for m in messages] == [100, 101, 102, 103, 104, 105]


async def test_an_unknown_execution_is_refused_by_name(pool: asyncpg.Pool[Any]) -> None:
    missing = uuid4()
    with pytest.raises(UnknownExecutionError, match=str(missing)):
        await ReplayQueries(pool).messages(missing)


@pytest.mark.parametrize(
    ("step", "replayed"),
    [
        (Step.REQUESTED, "requested"),
        (Step.MARKET_DATA, "requested"),
        (Step.INDICATORS, "market_data"),
        (Step.CHART, "indicators"),
        (Step.ANALYSIS, "chart"),
        (Step.SIGNAL, "analysis"),
    ],
)
async def test_a_replay_from_a_step_republishes_what_that_step_consumed(
    pool: asyncpg.Pool[Any], step: Step, replayed: str
) -> None:
    execution_id = uuid4()
    await _record_run(LineageRepository(pool), execution_id, 6)
    source = message_to_replay(execution_id, await ReplayQueries(pool).messages(execution_id), step)
    assert source.step == replayed
    assert source.subject in subjects_to_replay(step)


async def test_a_backtests_execution_is_replayed_from_its_bars_on_their_own_subject(pool: asyncpg.Pool[Any]) -> None:
    """A backtest's bars are recorded on ``pipeline.market_data.fetched.backtest``: what the indicators consumed."""
    execution_id = uuid4()
    lineage = LineageRepository(pool)
    request = _record(execution_id, 0, "requested", subjects.EXECUTION_REQUESTED)
    bars = _record(execution_id, 1, "market_data", subjects.MARKET_DATA_FETCHED_BACKTEST)
    for record in (request, bars):
        await lineage.record(record)
    messages = await ReplayQueries(pool).messages(execution_id)
    source = message_to_replay(execution_id, messages, Step.INDICATORS)
    assert (source.message_id, source.subject) == (bars.message_id, subjects.MARKET_DATA_FETCHED_BACKTEST)
    with pytest.raises(StepNotReachedError, match="steps it can be replayed from: requested, market_data, indicators"):
        message_to_replay(execution_id, messages, Step.CHART)


async def test_a_step_the_execution_never_reached_is_refused_naming_the_steps_it_can_replay(
    pool: asyncpg.Pool[Any],
) -> None:
    execution_id = uuid4()
    lineage = LineageRepository(pool)
    records = await _record_run(lineage, execution_id, 2)
    failure = _record(
        execution_id,
        2,
        "indicators",
        subjects.STEP_FAILED,
        status="failed",
        error="too few bars",
        causation_id=records[1].message_id,
        execution_status="failed",
    )
    await lineage.record(failure)
    messages = await ReplayQueries(pool).messages(execution_id)
    assert message_to_replay(execution_id, messages, Step.INDICATORS).step == "market_data"
    with pytest.raises(StepNotReachedError, match="never reached step 'chart'") as refused:
        message_to_replay(execution_id, messages, Step.CHART)
    assert "requested, market_data, indicators" in str(refused.value)


async def test_dead_letter_copies_are_never_what_a_replay_republishes(pool: asyncpg.Pool[Any]) -> None:
    execution_id = uuid4()
    lineage = LineageRepository(pool)
    [request] = await _record_run(lineage, execution_id, 1)
    copy = _record(
        execution_id,
        1,
        "dead_letter",
        subjects.dead_letter(subjects.EXECUTION_REQUESTED),
        message_id=request.message_id,
        stream_sequence=7,
    )
    await lineage.record(copy)
    source = message_to_replay(execution_id, await ReplayQueries(pool).messages(execution_id), Step.MARKET_DATA)
    assert source.stream_sequence == request.stream_sequence


async def test_replays_of_an_execution_are_listed_oldest_first(pool: asyncpg.Pool[Any]) -> None:
    lineage = LineageRepository(pool)
    original, first, second = uuid4(), uuid4(), uuid4()
    await _record_run(lineage, original, 1)
    for offset, replay in ((5, first), (9, second)):
        await lineage.record(_record(replay, offset, "requested", subjects.EXECUTION_REQUESTED, replay_of=original))
    assert await ReplayQueries(pool).replays_of(original) == [first, second]


async def _failed_execution(lineage: LineageRepository) -> UUID:
    execution_id = uuid4()
    await _record_run(lineage, execution_id, 1)
    await lineage.record(
        _record(
            execution_id,
            1,
            "market_data",
            subjects.STEP_FAILED,
            status="failed",
            error="down",
            execution_status="failed",
        )
    )
    return execution_id


async def test_a_redrive_reopens_a_failed_execution(pool: asyncpg.Pool[Any]) -> None:
    lineage = LineageRepository(pool)
    execution_id = await _failed_execution(lineage)
    assert await lineage.reopen_for_redrive(execution_id, uuid4())
    detail = await lineage.execution(execution_id)
    assert detail is not None
    assert (detail.execution.status, detail.execution.error, detail.execution.finished_at) == ("running", None, None)


async def test_a_redrive_whose_own_failure_was_recorded_first_leaves_the_execution_failed(
    pool: asyncpg.Pool[Any],
) -> None:
    lineage = LineageRepository(pool)
    execution_id = await _failed_execution(lineage)
    failure_id = uuid4()
    await lineage.record(
        _record(execution_id, 2, "dead_letter", "deadletter.x", message_id=failure_id, status="failed")
    )
    assert not await lineage.reopen_for_redrive(execution_id, failure_id)


async def test_a_redrive_leaves_an_execution_that_did_not_fail_as_it_is(pool: asyncpg.Pool[Any]) -> None:
    lineage = LineageRepository(pool)
    execution_id = uuid4()
    await _record_run(lineage, execution_id, 6)
    await lineage.record(_record(execution_id, 9, "signal", subjects.SIGNAL_GENERATED, execution_status="completed"))
    assert not await lineage.reopen_for_redrive(execution_id, uuid4())
