"""Messages that ran out of deliveries without a handler giving up on them become dead letters.

The delivery middleware dead-letters a message on its last delivery. When a handler never
returns (the process crashes, or hangs without heartbeats past ``ack_wait``) on every delivery,
the middleware never sees the last one; JetStream stops at the consumer's ``max_deliver`` (a
crash-loop bound above every retry the middleware may ask for) and publishes a
max-deliveries advisory. Those advisories are kept
in the ``ADVISORIES`` stream (provisioned with the other streams, so none is lost while the
lineage is down), and the lineage dead-letters the message here, with a ``StepFailed`` for pipeline steps,
exactly as the middleware would have.
"""

from __future__ import annotations

import structlog
from pydantic import ValidationError

from tradelane.contracts import subjects
from tradelane.contracts.advisories import MaxDeliveriesAdvisory
from tradelane.contracts.envelope import Envelope
from tradelane.contracts.events import StepFailed
from tradelane.runtime.bus import EventBus
from tradelane.runtime.deadletters import dead_letter_message
from tradelane.runtime.decisions import failure_id
from tradelane.runtime.replay import MessageAgedOutError, StoredMessage, fetch_message
from tradelane.runtime.streams import LINEAGE_CONSUMERS, STEP_CONSUMERS

log = structlog.get_logger(__name__)

_STREAMS_WATCHED = frozenset({subjects.PIPELINE_STREAM, subjects.TRADING_STREAM})
_STEP_OF_CONSUMER = {spec.durable: step.value for step, spec in STEP_CONSUMERS.items()} | {
    spec.durable: "lineage" for spec in LINEAGE_CONSUMERS
}


def failing_step(consumer: str) -> str:
    """The step name the delivery middleware of ``consumer``'s service reports failures under."""
    return _STEP_OF_CONSUMER.get(consumer, consumer)


def exhausted_error(advisory: MaxDeliveriesAdvisory) -> str:
    return (
        f"delivered {advisory.deliveries} times to consumer {advisory.consumer} without an acknowledgement: "
        "its handler crashed, or stopped sending in-progress heartbeats, before it could decide"
    )


class ExhaustedDeliveries:
    """Dead-letters the message a max-deliveries advisory names."""

    def __init__(self, bus: EventBus) -> None:
        self._bus = bus

    async def on_advisory(self, advisory: MaxDeliveriesAdvisory) -> None:
        if advisory.stream not in _STREAMS_WATCHED:
            log.info("advisory_ignored", stream=advisory.stream, consumer=advisory.consumer)
            return
        try:
            original = await fetch_message(self._bus.jetstream, advisory.stream, advisory.stream_seq)
        except MessageAgedOutError as gone:
            log.warning("exhausted_message_gone", consumer=advisory.consumer, error=str(gone))
            return
        step = failing_step(advisory.consumer)
        reason = exhausted_error(advisory)
        await dead_letter_message(
            self._bus.jetstream,
            original,
            step=step,
            kind="retries_exhausted",
            error=reason,
            deliveries=advisory.deliveries,
            max_payload=self._bus.max_payload,
        )
        log.error("step_failed", step=step, kind="retries_exhausted", error=reason, deliveries=advisory.deliveries)
        if step != "lineage":
            await self._report(original, step, reason, advisory.deliveries)

    async def _report(self, original: StoredMessage, step: str, error: str, deliveries: int) -> None:
        body = original.json() or {}
        try:
            envelope = Envelope.model_validate(body)
        except ValidationError:
            log.error("failure_not_attributable", reason="no execution_id/strategy_id in the message")
            return
        message_id = envelope.message_id if "message_id" in body else None
        await self._bus.publish(
            StepFailed(
                message_id=failure_id(
                    step=step,
                    subject=original.subject,
                    input_message_id=message_id,
                    execution_id=envelope.execution_id,
                    sequence=original.sequence,
                ),
                execution_id=envelope.execution_id,
                strategy_id=envelope.strategy_id,
                replay_of=envelope.replay_of,
                backtest=envelope.backtest,
                causation_id=message_id,
                step=step,
                kind="retries_exhausted",
                error=error,
                input_subject=original.subject,
                input_message_id=str(message_id) if message_id else None,
                deliveries=deliveries,
            )
        )
