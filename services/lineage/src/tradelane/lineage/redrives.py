"""How a redriven message and its possible new failure show in the lineage (pure: no I/O).

A redriven message is the very message that was dead-lettered (same body, same ``message_id``),
so its normal record is already there. It adds a ``redriven`` step under an id derived from
the message and the dead letter, and reopens the failed execution so that its later steps
settle it again. If it fails again, its new dead letter is recorded under an id derived the same
way, since the first dead letter of that message already holds the plain one.
"""

from __future__ import annotations

from dataclasses import replace
from uuid import UUID, uuid5

from tradelane.store.lineage import StepRecord

REDRIVEN_STEP = "redriven"


def redrive_failure_id(message_id: UUID, redrive_of: str) -> UUID:
    """Lineage id of the dead letter a redriven message becomes if it fails again."""
    return uuid5(message_id, f"dead-letter/redrive/{redrive_of}")


def redriven_step(record: StepRecord, redrive_of: str) -> StepRecord:
    """The ``redriven`` step of a message republished from dead letter ``redrive_of``."""
    return replace(
        record,
        step=REDRIVEN_STEP,
        message_id=uuid5(record.message_id, f"redrive/{redrive_of}"),
        causation_id=None,
        status="succeeded",
        error=None,
        duration_ms=None,
        execution_status="running",
        trigger=None,
    )


def redrive_failure(dead_letter: StepRecord, redrive_of: str) -> StepRecord:
    """The dead-letter step of a redriven message that failed again, under its own id."""
    return replace(dead_letter, message_id=redrive_failure_id(dead_letter.message_id, redrive_of))
