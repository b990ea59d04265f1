"""How a redriven message and its new failure become lineage records (pure)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from tradelane.contracts import subjects
from tradelane.lineage.redrives import REDRIVEN_STEP, redrive_failure, redrive_failure_id, redriven_step
from tradelane.store.lineage import StepRecord


def _record(step: str = "requested", **overrides: Any) -> StepRecord:
    values: dict[str, Any] = {
        "execution_id": uuid4(),
        "strategy_id": uuid4(),
        "step": step,
        "message_id": uuid4(),
        "causation_id": uuid4(),
        "subject": subjects.EXECUTION_REQUESTED,
        "stream_sequence": 12,
        "status": "succeeded",
        "payload": {"a": 1},
        "occurred_at": datetime(2026, 11, 24, tzinfo=UTC),
        "trigger": "manual",
    }
    return StepRecord(**(values | overrides))


def test_a_redriven_message_adds_a_redriven_step_under_its_own_id() -> None:
    original = _record()
    step = redriven_step(original, "7")
    assert step.step == REDRIVEN_STEP
    assert step.message_id not in (original.message_id, redriven_step(original, "8").message_id)
    assert step.message_id == redriven_step(original, "7").message_id
    assert (step.status, step.execution_status, step.causation_id) == ("succeeded", "running", None)
    assert (step.subject, step.stream_sequence, step.payload) == (original.subject, 12, {"a": 1})


def test_the_failure_of_a_redrive_is_recorded_apart_from_the_first_dead_letter() -> None:
    dead_letter = _record("dead_letter", status="failed", execution_status="failed")
    failure = redrive_failure(dead_letter, "7")
    assert failure.message_id == redrive_failure_id(dead_letter.message_id, "7")
    assert failure.message_id != dead_letter.message_id
    assert (failure.step, failure.execution_status) == ("dead_letter", "failed")
