"""Step-by-step differences between an execution and its replay (pure)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from tradelane.contracts import subjects
from tradelane.store.diff import MAX_CHANGES_PER_MESSAGE, FieldChange, diff_executions, diff_messages
from tradelane.store.replay import RecordedMessage

NOW = datetime(2026, 11, 24, tzinfo=UTC)
SUBJECTS = {
    "requested": subjects.EXECUTION_REQUESTED,
    "market_data": subjects.MARKET_DATA_FETCHED,
    "indicators": subjects.INDICATORS_COMPUTED,
    "chart": subjects.CHART_RENDERED,
    "analysis": subjects.ANALYSIS_COMPLETED,
    "signal": subjects.SIGNAL_GENERATED,
}


def _envelope(execution_id: UUID, **fields: Any) -> dict[str, Any]:
    return {
        "message_id": str(uuid4()),
        "execution_id": str(execution_id),
        "occurred_at": datetime.now(UTC).isoformat(),
        "handled_in_ms": 1.25,
        "replay_of": None,
        "causation_id": None,
        **fields,
    }


def _chain(execution_id: UUID, bodies: dict[str, dict[str, Any]]) -> list[RecordedMessage]:
    """Recorded messages, each caused by the one before (as a run through the pipeline records them)."""
    messages: list[RecordedMessage] = []
    cause: UUID | None = None
    for step, body in bodies.items():
        payload = _envelope(execution_id, causation_id=str(cause) if cause else None, **body)
        message_id = UUID(payload["message_id"])
        messages.append(
            RecordedMessage(
                step=step,
                status="succeeded",
                subject=SUBJECTS[step],
                message_id=message_id,
                causation_id=cause,
                stream_sequence=len(messages) + 1,
                payload=payload,
                error=None,
                occurred_at=NOW,
            )
        )
        cause = message_id
    return messages


def _bodies(prompt_version: int = 1, confidence: int = 70) -> dict[str, dict[str, Any]]:
    strategy = {"name": "s", "analysis": {"prompt_version": prompt_version, "model": None}}
    return {
        "requested": {"strategy": strategy, "trigger": "manual", "as_of": "2026-11-20T00:00:00+00:00"},
        "market_data": {"strategy": strategy, "bars": [{"close": 1.0}, {"close": 2.0}]},
        "indicators": {"strategy": strategy, "series": {"rsi_14": [None, 55.5]}},
        "chart": {"strategy": strategy, "figure": {"name": "ab" * 32}},
        "analysis": {"strategy": strategy, "analysis": {"bias": "bullish", "confidence": confidence}},
        "signal": {
            "strategy": strategy,
            "signal": {"action": "BUY", "entry": "2.0", "expires_at": datetime.now(UTC).isoformat()},
        },
    }


def test_envelope_identity_and_timing_are_not_differences() -> None:
    before = _envelope(uuid4(), trigger="manual", value=1)
    after = _envelope(uuid4(), trigger="replay", replay_of=str(uuid4()), causation_id=str(uuid4()), value=1)
    assert not diff_messages(before, after).changed


def test_a_signal_expiry_is_not_a_difference_but_its_price_is() -> None:
    before = {"signal": {"entry": "2.0", "expires_at": "2026-11-24T00:00:00+00:00"}}
    after = {"signal": {"entry": "2.5", "expires_at": "2026-11-25T00:00:00+00:00"}}
    assert diff_messages(before, after).changes == [FieldChange("signal.entry", "changed", "2.0", "2.5")]


def test_how_an_llm_answer_was_obtained_is_not_a_difference_but_the_answer_is() -> None:
    asked = {"prompt": "p", "cached": False, "latency_ms": 812.0, "tokens_in": 900, "cost": "0.01", "parsed": {"c": 1}}
    from_cache = {**asked, "cached": True, "latency_ms": 0.0, "tokens_in": 0, "cost": None}
    assert not diff_messages({"llm_calls": [asked]}, {"llm_calls": [from_cache]}).changed
    answered_otherwise = {**from_cache, "parsed": {"c": 2}}
    assert diff_messages({"llm_calls": [asked]}, {"llm_calls": [answered_otherwise]}).changes == [
        FieldChange("llm_calls[0].parsed.c", "changed", 1, 2)
    ]


def test_changes_are_named_by_their_path_including_list_positions() -> None:
    before = {"series": {"rsi_14": [None, 55.5]}, "bars": [1]}
    after = {"series": {"rsi_14": [None, 56.0]}, "bars": [1, 2], "new": True}
    assert diff_messages(before, after).changes == [
        FieldChange("bars[1]", "added", after=2),
        FieldChange("new", "added", after=True),
        FieldChange("series.rsi_14[1]", "changed", 55.5, 56.0),
    ]


def test_a_removed_field_is_reported_as_removed() -> None:
    assert diff_messages({"a": 1, "b": 2}, {"a": 1}).changes == [FieldChange("b", "removed", before=2)]


def test_an_integer_and_an_equal_float_are_the_same_number_but_not_a_boolean() -> None:
    assert not diff_messages({"x": 1}, {"x": 1.0}).changed
    assert diff_messages({"x": 1}, {"x": True}).changed


def test_many_differences_are_counted_beyond_those_listed() -> None:
    before = {"values": list(range(MAX_CHANGES_PER_MESSAGE + 7))}
    after = {"values": [value + 1 for value in before["values"]]}
    diff = diff_messages(before, after)
    assert len(diff.changes) == MAX_CHANGES_PER_MESSAGE
    assert diff.omitted == 7


def test_a_faithful_replay_of_the_whole_execution_is_identical() -> None:
    first, second = uuid4(), uuid4()
    compared = diff_executions(first, _chain(first, _bodies()), second, _chain(second, _bodies()))
    assert compared.identical
    assert [step.step for step in compared.steps] == list(SUBJECTS)
    assert all(step.presence == "both" for step in compared.steps)


def test_a_replay_from_a_later_step_lacks_the_earlier_steps_and_its_first_input() -> None:
    first, second = uuid4(), uuid4()
    bodies = _bodies()
    replay = _chain(second, {step: bodies[step] for step in ("indicators", "chart", "analysis", "signal")})
    compared = diff_executions(first, _chain(first, bodies), second, replay)
    assert compared.identical
    presence = {step.step: step.presence for step in compared.steps}
    assert presence == {
        "requested": "only_first",
        "market_data": "only_first",
        "indicators": "both",
        "chart": "both",
        "analysis": "both",
        "signal": "both",
    }


def test_another_prompt_version_shows_where_it_went_and_what_it_changed() -> None:
    first, second = uuid4(), uuid4()
    compared = diff_executions(
        first,
        _chain(first, _bodies(prompt_version=1, confidence=70)),
        second,
        _chain(second, _bodies(prompt_version=2, confidence=80)),
    )
    assert not compared.identical
    analysis = next(step for step in compared.steps if step.step == "analysis")
    assert [change.path for change in analysis.output.changes] == [
        "analysis.confidence",
        "strategy.analysis.prompt_version",
    ]
    assert [change.path for change in analysis.input.changes] == ["strategy.analysis.prompt_version"]
    signal = next(step for step in compared.steps if step.step == "signal")
    assert [change.path for change in signal.input.changes] == [
        "analysis.confidence",
        "strategy.analysis.prompt_version",
    ]


def test_a_step_that_failed_in_one_run_and_succeeded_in_the_other_differs() -> None:
    first, second = uuid4(), uuid4()
    succeeded = _chain(first, _bodies())
    failed = [
        replace(message, status="failed") if message.step == "signal" else message
        for message in _chain(second, _bodies())
    ]
    compared = diff_executions(first, succeeded, second, failed)
    signal = next(step for step in compared.steps if step.step == "signal")
    assert (signal.status_before, signal.status_after, signal.changed) == ("succeeded", "failed", True)
