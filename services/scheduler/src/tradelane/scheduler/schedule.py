"""The requests a schedule produces (pure: no I/O, no clock); :mod:`tradelane.cron` says when."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID, uuid5

from tradelane.contracts.events import ExecutionRequested, Trigger
from tradelane.contracts.strategy import StrategyDefinition

_SCHEDULED_RUN = UUID("6f1d3c52-8a4e-4d0b-9a51-4f0e5cbd2a10")
"""Namespace of the ids of scheduled runs: the same (strategy, due time) gives the same ids."""


def scheduled_execution_id(strategy_id: UUID, due: datetime) -> UUID:
    """Deterministic id of the run of ``strategy_id`` due at ``due``."""
    return uuid5(_SCHEDULED_RUN, f"{strategy_id}/{due.astimezone(UTC).isoformat()}")


def scheduled_request(strategy_id: UUID, definition: StrategyDefinition, due: datetime) -> ExecutionRequested:
    """The request for one scheduled run; every scheduler replica builds the very same message.

    Its message_id is derived from the strategy and the due time, so when two replicas
    publish it, JetStream's de-duplication keeps one.
    """
    execution_id = scheduled_execution_id(strategy_id, due)
    return ExecutionRequested(
        message_id=uuid5(execution_id, "ExecutionRequested"),
        execution_id=execution_id,
        strategy_id=strategy_id,
        occurred_at=due,
        strategy=definition,
        trigger=Trigger.SCHEDULE,
        as_of=due,
        scheduled_for=due,
    )
