"""How messages become lineage records."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from tradelane.contracts import subjects
from tradelane.contracts.events import ExecutionRequested, StepFailed, Trigger
from tradelane.contracts.strategy import StrategyDefinition, SymbolRef
from tradelane.lineage.recording import DEAD_LETTER_STEP, UnattributableMessageError, step_record
from tradelane.runtime.decisions import ERROR_HEADER


def _request() -> ExecutionRequested:
    return ExecutionRequested(
        execution_id=uuid4(),
        strategy_id=uuid4(),
        strategy=StrategyDefinition(name="s", symbol=SymbolRef(symbol="AAPL")),
        trigger=Trigger.SCHEDULE,
        as_of=datetime(2026, 11, 20, tzinfo=UTC),
    )


def test_a_request_starts_a_running_execution_with_its_trigger() -> None:
    request = _request()
    record = step_record(subjects.EXECUTION_REQUESTED, request.model_dump(mode="json"), stream_sequence=3)
    assert (record.step, record.status, record.execution_status) == ("requested", "succeeded", "running")
    assert record.trigger == "schedule"
    assert record.stream_sequence == 3


def test_a_step_failure_fails_the_execution_under_the_failed_step() -> None:
    failure = _request().follow(
        StepFailed, step="indicators", kind="permanent", error="sma_200 needs 200 bars", input_subject="x", deliveries=1
    )
    record = step_record(subjects.STEP_FAILED, failure.model_dump(mode="json"), stream_sequence=9)
    assert (record.step, record.status, record.execution_status) == ("indicators", "failed", "failed")
    assert record.error == "sma_200 needs 200 bars"


def test_any_message_of_a_replay_gives_its_execution_the_replay_trigger() -> None:
    """A replay from a later step has no request to name its trigger: its messages' ``replay_of`` says it."""
    failure = _request().follow(
        StepFailed, step="signal", kind="permanent", error="no analysis", input_subject="x", deliveries=1
    )
    replayed = failure.model_copy(update={"execution_id": uuid4(), "replay_of": failure.execution_id})
    assert step_record(subjects.STEP_FAILED, failure.model_dump(mode="json"), stream_sequence=1).trigger is None
    assert step_record(subjects.STEP_FAILED, replayed.model_dump(mode="json"), stream_sequence=2).trigger == "replay"


def test_a_message_breaking_its_contract_is_recorded_as_failed() -> None:
    body = _request().model_dump(mode="json") | {"bars": "not bars"}
    record = step_record(subjects.MARKET_DATA_FETCHED, body, stream_sequence=1)
    assert record.status == "failed"
    assert record.step == "market_data"
    assert record.error is not None
    assert "bars" in record.error


def test_a_dead_letter_is_recorded_with_the_reason() -> None:
    body = _request().model_dump(mode="json")
    record = step_record(
        subjects.dead_letter(subjects.EXECUTION_REQUESTED),
        body,
        stream_sequence=1,
        headers={ERROR_HEADER: "retries exhausted"},
    )
    assert (record.step, record.error, record.execution_status) == (DEAD_LETTER_STEP, "retries exhausted", "failed")


def test_a_message_without_an_envelope_belongs_to_no_execution() -> None:
    with pytest.raises(UnattributableMessageError, match="execution_id"):
        step_record(subjects.MARKET_DATA_FETCHED, {"hello": "world"}, stream_sequence=1)
