"""The audit trail (schema ``lineage``): executions and the steps they went through."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
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
    payload_json: str | None = None
    """``payload`` as the message carried it (JSON text), when known: stored as it is, not encoded again."""

    @property
    def stored_payload(self) -> str:
        """The payload as the JSON text PostgreSQL stores."""
        return self.payload_json if self.payload_json is not None else json.dumps(self.payload)


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
        [inserted] = await self.record_many([record])
        return inserted

    async def record_many(self, records: Sequence[StepRecord]) -> list[bool]:
        """Record steps in one transaction, as :meth:`record` would one after the other, in three statements.

        For each record, in order: its execution is created, or its trigger, ``replay_of`` and start
        completed; its step is inserted unless this message was recorded before (False); a step newly
        inserted that ends its execution (``execution_status``) settles it, if it is still running.
        Executions are locked in ``execution_id`` order, so that the transactions of two lineage
        replicas cannot deadlock.
        """
        if not records:
            return []
        executions = _executions_of(records)
        async with self._pool.acquire() as connection, connection.transaction():
            await connection.execute(
                "INSERT INTO lineage.executions (execution_id, strategy_id, status, trigger, replay_of, started_at)"
                " SELECT execution_id, strategy_id, 'running', trigger, replay_of, started_at"
                " FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::uuid[], $5::timestamptz[])"
                "  AS e(execution_id, strategy_id, trigger, replay_of, started_at)"
                " ORDER BY execution_id"
                " ON CONFLICT (execution_id) DO UPDATE SET"
                "  trigger = COALESCE(lineage.executions.trigger, EXCLUDED.trigger),"
                "  replay_of = COALESCE(lineage.executions.replay_of, EXCLUDED.replay_of),"
                "  started_at = LEAST(lineage.executions.started_at, EXCLUDED.started_at)"
                # an execution's later steps change none of these: writing its row again would only leave a dead
                # version of it behind (the row is locked all the same, so the lock order holds)
                " WHERE (lineage.executions.trigger IS NULL AND EXCLUDED.trigger IS NOT NULL)"
                "  OR (lineage.executions.replay_of IS NULL AND EXCLUDED.replay_of IS NOT NULL)"
                "  OR EXCLUDED.started_at < lineage.executions.started_at",
                *_columns(executions, "execution_id", "strategy_id", "trigger", "replay_of", "occurred_at"),
            )
            rows = await connection.fetch(
                "INSERT INTO lineage.steps (execution_id, step, message_id, causation_id, subject,"
                " stream_sequence, status, payload, error, duration_ms, occurred_at)"
                " SELECT execution_id, step, message_id, causation_id, subject,"
                "  stream_sequence, status, payload::jsonb, error, duration_ms, occurred_at"
                " FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::uuid[], $5::text[], $6::bigint[], $7::text[],"
                "  $8::text[], $9::text[], $10::float8[], $11::timestamptz[]) WITH ORDINALITY"
                "  AS s(execution_id, step, message_id, causation_id, subject,"
                "  stream_sequence, status, payload, error, duration_ms, occurred_at, position)"
                " ORDER BY position"
                " ON CONFLICT (execution_id, step, message_id) DO NOTHING"
                " RETURNING execution_id, step, message_id",
                *_columns(
                    records,
                    "execution_id",
                    "step",
                    "message_id",
                    "causation_id",
                    "subject",
                    "stream_sequence",
                    "status",
                    "stored_payload",
                    "error",
                    "duration_ms",
                    "occurred_at",
                ),
            )
            inserted = _newly_inserted(records, {(row["execution_id"], row["step"], row["message_id"]) for row in rows})
            settling = _settling(records, inserted)
            if settling:
                await connection.execute(
                    "UPDATE lineage.executions e SET status = s.status, error = COALESCE(s.error, e.error),"
                    " finished_at = s.occurred_at, updated_at = now()"
                    " FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[])"
                    "  AS s(execution_id, status, error, occurred_at)"
                    " WHERE e.execution_id = s.execution_id AND e.status = 'running'",
                    *_columns(settling, "execution_id", "execution_status", "error", "occurred_at"),
                )
            return inserted

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


def _columns(records: Sequence[StepRecord], *names: str) -> list[list[Any]]:
    """The values of each named field of ``records``: one array parameter per column, for ``unnest``."""
    return [[getattr(record, name) for record in records] for name in names]


def _executions_of(records: Sequence[StepRecord]) -> list[StepRecord]:
    """One record per execution, holding what recording its records one after the other would leave.

    Its strategy is the first record's; its trigger and ``replay_of`` the first that name one; it
    started at the earliest ``occurred_at``.
    """
    executions: dict[UUID, StepRecord] = {}
    for record in records:
        first = executions.get(record.execution_id)
        executions[record.execution_id] = (
            record
            if first is None
            else replace(
                first,
                trigger=first.trigger or record.trigger,
                replay_of=first.replay_of or record.replay_of,
                occurred_at=min(first.occurred_at, record.occurred_at),
            )
        )
    return list(executions.values())


def _newly_inserted(records: Sequence[StepRecord], inserted_keys: set[tuple[UUID, str, UUID]]) -> list[bool]:
    """For each record, whether its step was inserted now; of two records of one message, the first."""
    unclaimed = set(inserted_keys)
    outcomes = []
    for record in records:
        key = (record.execution_id, record.step, record.message_id)
        outcomes.append(key in unclaimed)
        unclaimed.discard(key)
    return outcomes


def _settling(records: Sequence[StepRecord], inserted: list[bool]) -> list[StepRecord]:
    """The record that settles each execution: its first newly inserted one with a terminal status."""
    settling: dict[UUID, StepRecord] = {}
    for record, new in zip(records, inserted, strict=True):
        if new and record.execution_status in _TERMINAL:
            settling.setdefault(record.execution_id, record)
    return list(settling.values())
