"""What a replay changes in the message it republishes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest
from pydantic import ValidationError

from tradelane.contracts import subjects
from tradelane.contracts.events import ExecutionRequested, StepFailed, Trigger
from tradelane.contracts.replay import NotReplayableError, ReplayOverrides, check_overrides, replay_payload
from tradelane.contracts.strategy import StrategyDefinition, SymbolRef
from tradelane.contracts.subjects import Step

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def _request() -> dict[str, Any]:
    request = ExecutionRequested(
        execution_id=uuid4(),
        strategy_id=uuid4(),
        strategy=StrategyDefinition(name="s", symbol=SymbolRef(symbol="AAPL")),
        trigger=Trigger.SCHEDULE,
        as_of=datetime(2026, 11, 20, tzinfo=UTC),
        handled_in_ms=3.5,
    )
    return request.model_dump(mode="json")


def test_a_replay_is_a_new_execution_that_names_the_original() -> None:
    original = _request()
    new_execution = uuid4()
    replayed = replay_payload(subjects.EXECUTION_REQUESTED, original, execution_id=new_execution, replayed_at=NOW)
    assert replayed["execution_id"] == str(new_execution)
    assert replayed["replay_of"] == original["execution_id"]
    assert replayed["message_id"] != original["message_id"]
    assert replayed["causation_id"] is None
    assert replayed["handled_in_ms"] is None
    assert replayed["occurred_at"] == NOW.isoformat()


def test_a_replayed_request_keeps_what_makes_the_run_reproducible() -> None:
    original = _request()
    replayed = replay_payload(subjects.EXECUTION_REQUESTED, original, execution_id=uuid4(), replayed_at=NOW)
    assert replayed["as_of"] == original["as_of"]
    assert replayed["strategy"] == original["strategy"]
    assert replayed["strategy_id"] == original["strategy_id"]
    assert replayed["trigger"] == "replay"
    assert ExecutionRequested.model_validate(replayed).trigger is Trigger.REPLAY


def test_fields_this_version_does_not_know_survive_a_replay() -> None:
    original = {**_request(), "added_by_a_newer_producer": [1, 2]}
    replayed = replay_payload(subjects.EXECUTION_REQUESTED, original, execution_id=uuid4(), replayed_at=NOW)
    assert replayed["added_by_a_newer_producer"] == [1, 2]


def test_overrides_change_only_the_analysis_settings_they_name() -> None:
    original = _request()
    overrides = ReplayOverrides(prompt_version=3, model="gpt-x", cache=True)
    replayed = replay_payload(
        subjects.EXECUTION_REQUESTED, original, execution_id=uuid4(), replayed_at=NOW, overrides=overrides
    )
    analysis = replayed["strategy"]["analysis"]
    assert (analysis["prompt_version"], analysis["model"], analysis["cache"]) == (3, "gpt-x", True)
    untouched = {key: value for key, value in analysis.items() if key not in {"prompt_version", "model", "cache"}}
    assert untouched == {key: original["strategy"]["analysis"][key] for key in untouched}
    assert {k: v for k, v in replayed["strategy"].items() if k != "analysis"} == {
        k: v for k, v in original["strategy"].items() if k != "analysis"
    }


def test_no_overrides_leave_the_strategy_as_it_was() -> None:
    original = _request()
    replayed = replay_payload(
        subjects.EXECUTION_REQUESTED, original, execution_id=uuid4(), replayed_at=NOW, overrides=ReplayOverrides()
    )
    assert replayed["strategy"] == original["strategy"]


def test_overrides_on_a_message_without_a_strategy_are_refused() -> None:
    failure = StepFailed(
        execution_id=uuid4(),
        strategy_id=uuid4(),
        step="indicators",
        kind="permanent",
        error="e",
        input_subject="x",
        deliveries=1,
    ).model_dump(mode="json")
    with pytest.raises(NotReplayableError, match="carries no strategy"):
        replay_payload(
            subjects.STEP_FAILED, failure, execution_id=uuid4(), replayed_at=NOW, overrides=ReplayOverrides(model="m")
        )


def test_a_body_that_is_no_tradelane_event_cannot_be_replayed() -> None:
    with pytest.raises(NotReplayableError, match="not a tradelane event"):
        replay_payload("pipeline.anything", {"hello": 1}, execution_id=uuid4(), replayed_at=NOW)


def test_a_prompt_version_below_one_is_refused() -> None:
    with pytest.raises(ValidationError):
        ReplayOverrides(prompt_version=0)


@pytest.mark.parametrize("step", [Step.REQUESTED, Step.MARKET_DATA, Step.CHART, Step.ANALYSIS])
def test_overrides_are_accepted_up_to_the_analysis_step(step: Step) -> None:
    check_overrides(step, ReplayOverrides(prompt_version=2))


def test_overrides_from_the_signal_step_are_refused_as_without_effect() -> None:
    with pytest.raises(NotReplayableError, match="replay from 'analysis' or an earlier step"):
        check_overrides(Step.SIGNAL, ReplayOverrides(model="m"))


def test_the_signal_step_replays_without_overrides() -> None:
    check_overrides(Step.SIGNAL, ReplayOverrides())


def test_changes_list_only_what_was_given() -> None:
    assert ReplayOverrides(cache=False).changes == {"cache": False}


def test_a_replay_places_no_orders_unless_asked() -> None:
    original = _request() | {"replay_places_orders": True}  # a replay of a replay that was allowed to trade
    plain = replay_payload(subjects.EXECUTION_REQUESTED, original, execution_id=uuid4(), replayed_at=NOW)
    asked = replay_payload(
        subjects.EXECUTION_REQUESTED,
        original,
        execution_id=uuid4(),
        replayed_at=NOW,
        overrides=ReplayOverrides(place_orders=True),
    )
    assert (plain["replay_places_orders"], asked["replay_places_orders"]) == (False, True)
    assert ExecutionRequested.model_validate(asked).replay_places_orders


def test_the_trading_flag_is_no_analysis_setting() -> None:
    """``place_orders`` may go with a replay from the signal step, where analysis settings are refused."""
    overrides = ReplayOverrides(place_orders=True)
    assert overrides.changes == {}
    check_overrides(Step.SIGNAL, overrides)


def test_every_event_of_a_replay_carries_the_trading_flag() -> None:
    request = ExecutionRequested.model_validate(
        replay_payload(
            subjects.EXECUTION_REQUESTED,
            _request(),
            execution_id=uuid4(),
            replayed_at=NOW,
            overrides=ReplayOverrides(place_orders=True),
        )
    )
    failed = request.follow(StepFailed, step="x", kind="permanent", error="e", input_subject="s", deliveries=1)
    assert failed.replay_places_orders
