"""How a message on the bus becomes a lineage step record (pure: no I/O).

- A pipeline event (``pipeline.market_data.fetched``...) is the output of its step; the
  message it was caused by (``causation_id``) is that step's input.
- ``pipeline.signal.generated`` completes the execution; ``pipeline.signal.rejected`` ends
  it as rejected (a backtest's signals alike, on their ``.backtest`` subjects); ``pipeline.step.failed``
  fails it with the step's error.
- A message that carries a readable envelope but breaks its contract is still recorded, as
  a failed step with the validation error, so nothing published is ever invisible.
- A broker event (``trading.order.*``, ``trading.position.changed``) is a step of the execution
  whose signal caused it (``order_submitted``, ``order_filled``, ``position_changed``...), after
  the signal step; an order the risk engine or the venue refused is a ``rejected`` step with the
  reason; a signal the broker skipped (``trading.signal.skipped``: a replay, a redrive, a strategy
  that no longer trades) is a ``skipped`` step with the reason. A manual order has no pipeline
  run: it is an execution of its own (trigger ``manual_order``), completed at its first event.
- A change of the trading state (``trading.risk.state_changed``: a halt, a resume) belongs to no
  strategy either: it is an execution of its own (trigger ``trading_state``), completed at once.
- An LLM budget crossing (``pipeline.llm.budget_crossed``) is a step of the execution whose model
  call crossed it, named by its subject; it leaves that execution's status as it is.
- A dead letter (``deadletter.<subject>``) is recorded as the step ``dead_letter`` with the
  error the giving-up service attached.
- Every message of a replay (one that carries ``replay_of``) gives its execution the trigger
  ``replay``, whichever step the replay started from: only a replay from the first step has an
  ``ExecutionRequested`` to say so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from pydantic import ValidationError

from tradelane.contracts import subjects
from tradelane.contracts.envelope import Envelope
from tradelane.contracts.events import ExecutionRequested, SignalGenerated, SignalRejected, StepFailed, Trigger
from tradelane.contracts.trading import MANUAL_STRATEGY_ID, OrderRejected, SignalSkipped, TradingStateChanged
from tradelane.runtime.decisions import ERROR_HEADER, describe
from tradelane.store.lineage import ExecutionStatus, StepRecord, StepStatus

DEAD_LETTER_STEP = "dead_letter"

_EXECUTION_STATUS_AFTER: dict[type[Envelope], ExecutionStatus] = {
    SignalGenerated: "completed",
    SignalRejected: "rejected",
}


class UnattributableMessageError(ValueError):
    """The message has no readable envelope, so it belongs to no execution."""


def step_record(
    subject: str,
    payload: dict[str, Any],
    *,
    stream_sequence: int | None,
    headers: Mapping[str, str] | None = None,
) -> StepRecord:
    """The lineage record of one message published on ``subject``."""
    try:
        envelope = Envelope.model_validate(payload)
    except ValidationError as error:
        raise UnattributableMessageError(describe(error)) from error

    if subjects.is_dead_letter(subject):
        reason = (headers or {}).get(ERROR_HEADER, "dead-lettered")
        return _record(envelope, subject, payload, stream_sequence, DEAD_LETTER_STEP, "failed", reason, "failed")

    trading_step = subjects.trading_step_of(subject)
    if trading_step is not None:
        return _trading_record(envelope, subject, payload, stream_sequence, trading_step)

    contract = subjects.event_type_for(subject)
    step = subjects.step_of(subject)
    try:
        event = contract.model_validate(payload) if contract is not None else envelope
    except ValidationError as error:
        name = step.value if step is not None else subject
        return _record(envelope, subject, payload, stream_sequence, name, "failed", describe(error), "running")

    if isinstance(event, StepFailed):
        return _record(event, subject, payload, stream_sequence, event.step, "failed", event.error, "failed")

    status: StepStatus = "rejected" if isinstance(event, SignalRejected) else "succeeded"
    record = _record(
        event,
        subject,
        payload,
        stream_sequence,
        step.value if step is not None else subject,
        status,
        None,
        _EXECUTION_STATUS_AFTER.get(type(event), "running"),
    )
    if isinstance(event, ExecutionRequested):
        return replace(record, trigger=event.trigger.value)
    return record


def _record(
    envelope: Envelope,
    subject: str,
    payload: dict[str, Any],
    stream_sequence: int | None,
    step: str,
    status: StepStatus,
    error: str | None,
    execution_status: ExecutionStatus,
) -> StepRecord:
    return StepRecord(
        execution_id=envelope.execution_id,
        strategy_id=envelope.strategy_id,
        step=step,
        message_id=envelope.message_id,
        causation_id=envelope.causation_id,
        subject=subject,
        stream_sequence=stream_sequence,
        status=status,
        payload=payload,
        occurred_at=envelope.occurred_at,
        error=error,
        duration_ms=envelope.handled_in_ms,
        execution_status=execution_status,
        trigger=Trigger.REPLAY.value if envelope.replay_of is not None else None,
        replay_of=envelope.replay_of,
    )


def _trading_record(
    envelope: Envelope, subject: str, payload: dict[str, Any], stream_sequence: int | None, step: str
) -> StepRecord:
    contract = subjects.event_type_for(subject)
    assert contract is not None, f"{subject} has a trading step but no contract"
    try:
        event = contract.model_validate(payload)
    except ValidationError as error:
        return _record(envelope, subject, payload, stream_sequence, step, "failed", describe(error), "running")
    rejected = isinstance(event, OrderRejected)
    status: StepStatus = "rejected" if rejected else "skipped" if isinstance(event, SignalSkipped) else "succeeded"
    reason = event.reason if isinstance(event, OrderRejected | SignalSkipped) else None
    if event.strategy_id != MANUAL_STRATEGY_ID:
        return _record(event, subject, payload, stream_sequence, step, status, reason, "running")
    execution_status: ExecutionStatus = "rejected" if rejected else "completed"
    record = _record(event, subject, payload, stream_sequence, step, status, reason, execution_status)
    return replace(record, trigger="trading_state" if isinstance(event, TradingStateChanged) else "manual_order")
