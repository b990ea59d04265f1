"""How messages become lineage records."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from tradelane.contracts import subjects
from tradelane.contracts.envelope import BacktestTag
from tradelane.contracts.events import (
    Action,
    Analysis,
    ExecutionRequested,
    Signal,
    SignalGenerated,
    SignalRejected,
    StepFailed,
    Trigger,
)
from tradelane.contracts.market import ResolvedSymbol
from tradelane.contracts.strategy import AssetType, StrategyDefinition, SymbolRef
from tradelane.lineage.recording import DEAD_LETTER_STEP, UnattributableMessageError, step_record
from tradelane.runtime.decisions import ERROR_HEADER


def _request(backtest: BacktestTag | None = None) -> ExecutionRequested:
    return ExecutionRequested(
        execution_id=uuid4(),
        strategy_id=uuid4(),
        strategy=StrategyDefinition(name="s", symbol=SymbolRef(symbol="AAPL")),
        trigger=Trigger.SCHEDULE if backtest is None else Trigger.BACKTEST,
        as_of=datetime(2026, 11, 20, tzinfo=UTC),
        backtest=backtest,
    )


BACKTEST = BacktestTag(backtest_id=uuid4(), variant="base", seq=0, decided_at=datetime(2026, 11, 20, tzinfo=UTC))
HOLD = Signal(
    action=Action.HOLD,
    confidence=50,
    symbol=ResolvedSymbol(conid=1, symbol="AAPL", exchange="NASDAQ", currency="USD", asset_type=AssetType.STOCK),
    expires_at=datetime(2026, 11, 21, tzinfo=UTC),
    model="offline-rules-v1",
)
NEUTRAL = Analysis(bias="neutral", trend="sideways", confidence=50, model="offline-rules-v1")


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


@pytest.mark.parametrize("backtest", [None, BACKTEST], ids=["live", "backtest"])
def test_a_generated_signal_completes_its_execution_on_its_subject(backtest: BacktestTag | None) -> None:
    request = _request(backtest)
    generated = request.follow(SignalGenerated, strategy=request.strategy, signal=HOLD, analysis=NEUTRAL)
    subject = subjects.subject_for(generated)
    record = step_record(subject, generated.model_dump(mode="json"), stream_sequence=7)
    assert (record.step, record.status, record.execution_status) == ("signal", "succeeded", "completed")
    assert record.subject == subject


@pytest.mark.parametrize("backtest", [None, BACKTEST], ids=["live", "backtest"])
def test_a_rejected_signal_ends_its_execution_as_rejected_on_its_subject(backtest: BacktestTag | None) -> None:
    request = _request(backtest)
    rejected = request.follow(
        SignalRejected, strategy=request.strategy, rule="min_confidence", reason="x", candidate=HOLD, analysis=NEUTRAL
    )
    subject = subjects.subject_for(rejected)
    record = step_record(subject, rejected.model_dump(mode="json"), stream_sequence=7)
    assert (record.step, record.status, record.execution_status) == ("signal", "rejected", "rejected")
    assert record.subject == subject


def test_any_message_of_a_replay_gives_its_execution_the_replay_trigger() -> None:
    """A replay from a later step has no request to name its trigger: its messages' ``replay_of`` says it."""
    failure = _request().follow(
        StepFailed, step="signal", kind="permanent", error="no analysis", input_subject="x", deliveries=1
    )
    replayed = failure.model_copy(update={"execution_id": uuid4(), "replay_of": failure.execution_id})
    assert step_record(subjects.STEP_FAILED, failure.model_dump(mode="json"), stream_sequence=1).trigger is None
    assert step_record(subjects.STEP_FAILED, replayed.model_dump(mode="json"), stream_sequence=2).trigger == "replay"


@pytest.mark.parametrize("subject", [subjects.MARKET_DATA_FETCHED, subjects.MARKET_DATA_FETCHED_BACKTEST])
def test_a_message_breaking_its_contract_is_recorded_as_failed(subject: str) -> None:
    """Read with the contract of its subject, a backtest's bars' own one too."""
    body = _request().model_dump(mode="json") | {"bars": "not bars"}
    record = step_record(subject, body, stream_sequence=1)
    assert (record.status, record.subject) == ("failed", subject)
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
