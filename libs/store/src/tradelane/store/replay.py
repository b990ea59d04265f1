"""What a replay needs from the lineage: every recorded message of an execution, and which to replay.

Replaying an execution "from step S" re-runs S and everything after it: the message republished
is the one S consumed, i.e. the one recorded on a subject of ``consumed_by(S)`` (a backtest's bars on their
own subject). ``requested`` republishes the execution request itself, so it re-runs the whole execution
just as ``market_data`` does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from tradelane.contracts import subjects
from tradelane.contracts.subjects import Step
from tradelane.store.lineage import StepStatus


class UnknownExecutionError(LookupError):
    """The lineage has no execution with this id."""

    def __init__(self, execution_id: UUID) -> None:
        super().__init__(f"no execution with id {execution_id}; list recent ones with `tradelane executions list`")
        self.execution_id = execution_id


class StepNotReachedError(LookupError):
    """The execution never produced the message the step consumes, so it cannot be replayed from there."""


@dataclass(frozen=True)
class RecordedMessage:
    """One message of an execution as the lineage recorded it."""

    step: str
    status: StepStatus
    subject: str
    message_id: UUID
    causation_id: UUID | None
    stream_sequence: int | None
    payload: dict[str, Any]
    error: str | None
    occurred_at: datetime
    pruned_at: datetime | None = None
    """When the lineage pruned this message; ``payload`` then holds its summary."""

    @property
    def is_step_output(self) -> bool:
        """True for the message a step published (not a dead-letter copy or a redrive note)."""
        step = subjects.step_of(self.subject)
        return step is not None and step.value == self.step


def subjects_to_replay(from_step: Step) -> tuple[str, ...]:
    """The subjects whose message a replay from ``from_step`` republishes (an execution recorded one of them)."""
    return (subjects.EXECUTION_REQUESTED,) if from_step is Step.REQUESTED else subjects.consumed_by(from_step)


def message_to_replay(execution_id: UUID, messages: Sequence[RecordedMessage], from_step: Step) -> RecordedMessage:
    """The recorded message a replay from ``from_step`` republishes; :class:`StepNotReachedError` if there is none."""
    wanted = subjects_to_replay(from_step)
    candidates = [m for m in messages if m.subject in wanted and m.is_step_output and m.stream_sequence is not None]
    if candidates:
        return candidates[-1]
    reached = [
        step for step in Step if any(m.subject in subjects_to_replay(step) and m.is_step_output for m in messages)
    ]
    where = ", ".join(step.value for step in reached) if reached else "none (nothing of it was recorded)"
    msg = (
        f"execution {execution_id} never reached step {from_step.value!r}: it published no {' or '.join(wanted)} "
        f"message; steps it can be replayed from: {where}"
    )
    raise StepNotReachedError(msg)


class ReplayQueries:
    """Reads ``lineage.steps`` for replays and diffs."""

    def __init__(self, pool: asyncpg.Pool[Any]) -> None:
        self._pool = pool

    async def messages(self, execution_id: UUID) -> list[RecordedMessage]:
        """Every recorded message of the execution, in the order they happened.

        Raises :class:`UnknownExecutionError` when the lineage has no such execution.
        """
        exists = await self._pool.fetchval("SELECT 1 FROM lineage.executions WHERE execution_id = $1", execution_id)
        if exists is None:
            raise UnknownExecutionError(execution_id)
        rows = await self._pool.fetch(
            "SELECT step, status, subject, message_id, causation_id, stream_sequence, payload, error, occurred_at,"
            " pruned_at"
            " FROM lineage.steps WHERE execution_id = $1 ORDER BY occurred_at, id",
            execution_id,
        )
        return [
            RecordedMessage(
                step=row["step"],
                status=row["status"],
                subject=row["subject"],
                message_id=row["message_id"],
                causation_id=row["causation_id"],
                stream_sequence=row["stream_sequence"],
                payload=row["payload"],
                error=row["error"],
                occurred_at=row["occurred_at"],
                pruned_at=row["pruned_at"],
            )
            for row in rows
        ]

    async def replays_of(self, execution_id: UUID) -> list[UUID]:
        """Executions that replay ``execution_id``, oldest first."""
        rows = await self._pool.fetch(
            "SELECT execution_id FROM lineage.executions WHERE replay_of = $1 ORDER BY started_at",
            execution_id,
        )
        return [row["execution_id"] for row in rows]
