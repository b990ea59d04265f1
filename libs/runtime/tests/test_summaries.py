"""How `tail` shows one message (pure)."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

from tradelane.contracts import subjects
from tradelane.contracts.events import ExecutionRequested, StepFailed, Trigger
from tradelane.contracts.strategy import StrategyDefinition, SymbolRef
from tradelane.runtime.decisions import ERROR_HEADER, STEP_HEADER
from tradelane.runtime.summaries import describe


def _request(**fields: object) -> ExecutionRequested:
    return ExecutionRequested.model_validate(
        {
            "execution_id": uuid4(),
            "strategy_id": uuid4(),
            "strategy": StrategyDefinition(name="aapl-daily", symbol=SymbolRef(symbol="AAPL")),
            "trigger": Trigger.SCHEDULE,
            "as_of": datetime(2026, 11, 20, tzinfo=UTC),
            **fields,
        }
    )


def test_an_event_is_decoded_through_its_contract() -> None:
    request = _request()
    described = describe(subjects.EXECUTION_REQUESTED, request.model_dump_json().encode())
    assert described.execution_id == str(request.execution_id)
    assert described.summary.startswith("aapl-daily (AAPL 1 day) schedule")


def test_a_replay_names_what_it_replays() -> None:
    original = uuid4()
    described = describe(subjects.EXECUTION_REQUESTED, _request(replay_of=original).model_dump_json().encode())
    assert described.replay_of == str(original)


def test_a_failure_names_the_step_and_the_error() -> None:
    failure = _request().follow(
        StepFailed, step="indicators", kind="permanent", error="sma_200 needs 200 bars", input_subject="x", deliveries=1
    )
    summary = describe(subjects.STEP_FAILED, failure.model_dump_json().encode()).summary
    assert summary == "indicators failed (permanent, 1 deliveries): sma_200 needs 200 bars"


def test_a_dead_letter_shows_who_gave_up_and_why() -> None:
    headers = {STEP_HEADER: "market_data", ERROR_HEADER: "unknown symbol ZZZZ"}
    body = _request().model_dump_json().encode()
    described = describe(subjects.dead_letter(subjects.EXECUTION_REQUESTED), body, headers)
    assert described.summary == "DEAD LETTER from market_data: unknown symbol ZZZZ"


def test_a_message_that_breaks_its_contract_says_so() -> None:
    described = describe(subjects.EXECUTION_REQUESTED, b'{"execution_id": "x"}')
    assert described.execution_id is None
    assert described.summary.startswith("not a valid ExecutionRequested")
