"""The audit trail (schema ``lineage``): executions and the steps they went through."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

import asyncpg

from tradelane.contracts import subjects

ExecutionStatus = Literal["running", "completed", "rejected", "failed"]
StepStatus = Literal["succeeded", "rejected", "failed", "skipped"]
ExecutionTrigger = Literal["schedule", "manual", "replay", "backtest", "manual_order", "trading_state"]
"""What started an execution: a pipeline run's :class:`~tradelane.contracts.events.Trigger` (``schedule``,
``manual``, ``replay``; a replay from any step; ``backtest``, a decision of a backtest), or, for the executions
the lineage makes of a manual order and of a change of the trading state, ``manual_order`` and ``trading_state``."""


@dataclass(frozen=True)
class StepRecord:
    """One message of an execution, as the lineage service records it."""

    execution_id: UUID
    strategy_id: UUID
    step: str
    message_id: UUID
    causation_id: UUID | None
    subject: str
    stream_sequence: int | None
    status: StepStatus
    payload: dict[str, Any]
    occurred_at: datetime
    error: str | None = None
    duration_ms: float | None = None
    execution_status: ExecutionStatus = "running"
    """The status this message puts its execution in."""
    trigger: ExecutionTrigger | None = None
    replay_of: UUID | None = None


@dataclass(frozen=True)
class ExecutionSummary:
    execution_id: UUID
    strategy_id: UUID
    status: ExecutionStatus
    trigger: str | None
    replay_of: UUID | None
    error: str | None
    started_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True)
class StepView:
    """One recorded step with its messages; a pruned message holds its summary instead (see ``pruned_at``)."""

    step: str
    status: StepStatus
    subject: str
    message_id: UUID
    stream_sequence: int | None
    input: dict[str, Any] | None
    output: dict[str, Any]
    error: str | None
    duration_ms: float | None
    occurred_at: datetime
    pruned_at: datetime | None = None
    """When the output message was pruned (``output`` then holds its summary); None while kept in full."""
    input_pruned_at: datetime | None = None
    """The same for the input message."""


@dataclass(frozen=True)
class ExecutionDetail:
    execution: ExecutionSummary
    steps: list[StepView] = field(default_factory=list)


@dataclass(frozen=True)
class StepStatistics:
    step: str
    count: int
    succeeded: int
    failed: int
    success_rate: float | None
    duration_ms_min: float | None
    duration_ms_avg: float | None
    duration_ms_p95: float | None
    duration_ms_max: float | None
    top_errors: list[tuple[str, int]]


_TERMINAL = ("completed", "rejected", "failed")


class LineageRepository:
    """Writes steps idempotently and answers the questions the gateway asks."""

    def __init__(self, pool: asyncpg.Pool[Any]) -> None:
        self._pool = pool

    async def record(self, record: StepRecord) -> bool:
        """Record one step; False when this message was recorded before (a redelivery)."""
        async with self._pool.acquire() as connection, connection.transaction():
            await connection.execute(
                "INSERT INTO lineage.executions"
                " (execution_id, strategy_id, status, trigger, replay_of, started_at)"
                " VALUES ($1, $2, 'running', $3, $4, $5)"
                " ON CONFLICT (execution_id) DO UPDATE SET"
                "  trigger = COALESCE(lineage.executions.trigger, EXCLUDED.trigger),"
                "  replay_of = COALESCE(lineage.executions.replay_of, EXCLUDED.replay_of),"
                "  started_at = LEAST(lineage.executions.started_at, EXCLUDED.started_at)",
                record.execution_id,
                record.strategy_id,
                record.trigger,
                record.replay_of,
                record.occurred_at,
            )
            inserted = await connection.fetchval(
                "INSERT INTO lineage.steps (execution_id, step, message_id, causation_id, subject,"
                " stream_sequence, status, payload, error, duration_ms, occurred_at)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
                " ON CONFLICT (execution_id, step, message_id) DO NOTHING RETURNING id",
                record.execution_id,
                record.step,
                record.message_id,
                record.causation_id,
                record.subject,
                record.stream_sequence,
                record.status,
                record.payload,
                record.error,
                record.duration_ms,
                record.occurred_at,
            )
            if inserted is None:
                return False
            if record.execution_status in _TERMINAL:
                await connection.execute(
                    "UPDATE lineage.executions SET status = $2, error = COALESCE($3, error),"
                    " finished_at = $4, updated_at = now()"
                    " WHERE execution_id = $1 AND status = 'running'",
                    record.execution_id,
                    record.execution_status,
                    record.error,
                    record.occurred_at,
                )
            return True

    async def executions(
        self,
        *,
        strategy_id: UUID | None = None,
        status: ExecutionStatus | None = None,
        trigger: ExecutionTrigger | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[ExecutionSummary]:
        """Most recent first, optionally of one strategy, status and trigger, started in ``[since, until)``."""
        rows = await self._pool.fetch(
            "SELECT * FROM lineage.executions"
            " WHERE ($1::uuid IS NULL OR strategy_id = $1) AND ($2::text IS NULL OR status = $2)"
            " AND ($3::text IS NULL OR trigger = $3)"
            " AND ($4::timestamptz IS NULL OR started_at >= $4) AND ($5::timestamptz IS NULL OR started_at < $5)"
            " ORDER BY started_at DESC LIMIT $6 OFFSET $7",
            strategy_id,
            status,
            trigger,
            since,
            until,
            limit,
            offset,
        )
        return [_summary(row) for row in rows]

    async def execution_summary(self, execution_id: UUID) -> ExecutionSummary | None:
        """An execution without its steps."""
        row = await self._pool.fetchrow("SELECT * FROM lineage.executions WHERE execution_id = $1", execution_id)
        return _summary(row) if row else None

    async def execution(self, execution_id: UUID) -> ExecutionDetail | None:
        """An execution with every step, each with the message it consumed as its input."""
        row = await self._pool.fetchrow("SELECT * FROM lineage.executions WHERE execution_id = $1", execution_id)
        if row is None:
            return None
        steps = await self._pool.fetch(
            # a dead letter keeps the message_id of the message it copies: it is never an input
            "SELECT s.*, i.payload AS input_payload, i.pruned_at AS input_pruned_at FROM lineage.steps s"
            " LEFT JOIN lineage.steps i ON i.execution_id = s.execution_id AND i.message_id = s.causation_id"
            " AND NOT starts_with(i.subject, $2)"
            " WHERE s.execution_id = $1 ORDER BY s.occurred_at, s.id",
            execution_id,
            subjects.dead_letter(""),
        )
        return ExecutionDetail(
            execution=_summary(row),
            steps=[
                StepView(
                    step=step["step"],
                    status=step["status"],
                    subject=step["subject"],
                    message_id=step["message_id"],
                    stream_sequence=step["stream_sequence"],
                    input=step["input_payload"],
                    output=step["payload"],
                    error=step["error"],
                    duration_ms=step["duration_ms"],
                    occurred_at=step["occurred_at"],
                    pruned_at=step["pruned_at"],
                    input_pruned_at=step["input_pruned_at"],
                )
                for step in steps
            ],
        )

    async def step_statistics(self, step: str, since: datetime) -> StepStatistics:
        """Counts, success rate, durations and the most common errors of one step since ``since``."""
        row = await self._pool.fetchrow(
            "SELECT count(*) AS count,"
            " count(*) FILTER (WHERE status = 'succeeded') AS succeeded,"
            " count(*) FILTER (WHERE status = 'failed') AS failed,"
            " min(duration_ms) AS dmin, avg(duration_ms) AS davg, max(duration_ms) AS dmax,"
            " percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms) AS dp95"
            " FROM lineage.steps WHERE step = $1 AND occurred_at >= $2",
            step,
            since,
        )
        errors = await self._pool.fetch(
            "SELECT error, count(*) AS n FROM lineage.steps"
            " WHERE step = $1 AND occurred_at >= $2 AND error IS NOT NULL"
            " GROUP BY error ORDER BY n DESC, error LIMIT 5",
            step,
            since,
        )
        assert row is not None
        count = int(row["count"])
        return StepStatistics(
            step=step,
            count=count,
            succeeded=int(row["succeeded"]),
            failed=int(row["failed"]),
            success_rate=round(row["succeeded"] / count, 4) if count else None,
            duration_ms_min=row["dmin"],
            duration_ms_avg=float(row["davg"]) if row["davg"] is not None else None,
            duration_ms_p95=row["dp95"],
            duration_ms_max=row["dmax"],
            top_errors=[(error["error"], int(error["n"])) for error in errors],
        )

    async def reopen_for_redrive(self, execution_id: UUID, redrive_failure_id: UUID) -> bool:
        """Set a failed execution running again because one of its messages was redriven.

        Its later steps then settle it as usual. Nothing changes when the execution is not
        failed, or when the redriven message's own failure (recorded as ``redrive_failure_id``)
        was recorded first: the dead-letter consumer may be ahead of the pipeline consumer.
        Returns True when the execution was reopened.
        """
        result = await self._pool.execute(
            "UPDATE lineage.executions SET status = 'running', error = NULL, finished_at = NULL, updated_at = now()"
            " WHERE execution_id = $1 AND status = 'failed' AND NOT EXISTS"
            " (SELECT 1 FROM lineage.steps WHERE execution_id = $1 AND message_id = $2)",
            execution_id,
            redrive_failure_id,
        )
        return bool(result == "UPDATE 1")


def _summary(row: asyncpg.Record) -> ExecutionSummary:
    return ExecutionSummary(
        execution_id=row["execution_id"],
        strategy_id=row["strategy_id"],
        status=row["status"],
        trigger=row["trigger"],
        replay_of=row["replay_of"],
        error=row["error"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
    )
