"""Messages that ran out of deliveries without a handler giving up on them become dead letters.

The delivery middleware dead-letters a message on its last delivery. When a handler never
returns (the process crashes, or outlives ``ack_wait``) on every delivery, the middleware never
sees the last one; JetStream then publishes a max-deliveries advisory. The lineage keeps those
advisories in the ``ADVISORIES`` stream (so none is lost while it is down) and dead-letters the
message here, with a ``StepFailed`` for pipeline steps, exactly as the middleware would have.
"""

from __future__ import annotations

from uuid import NAMESPACE_URL, uuid5

import structlog
from nats.js import JetStreamContext, api
from nats.js.errors import NotFoundError
from pydantic import ValidationError

from tradelane.contracts import subjects
from tradelane.contracts.advisories import ADVISORY_STREAM, MAX_DELIVERIES_ADVISORIES, MaxDeliveriesAdvisory
from tradelane.contracts.envelope import Envelope
from tradelane.contracts.events import StepFailed
from tradelane.runtime.bus import EventBus
from tradelane.runtime.deadletters import dead_letter_message
from tradelane.runtime.replay import MessageAgedOutError, StoredMessage, fetch_message
from tradelane.runtime.settings import Settings
from tradelane.runtime.streams import LINEAGE_CONSUMERS, STEP_CONSUMERS, ConsumerSpec, consumer_config

log = structlog.get_logger(__name__)

ADVISORY_CONSUMER = ConsumerSpec("lineage-advisories", ADVISORY_STREAM, MAX_DELIVERIES_ADVISORIES)
_STREAMS_WATCHED = frozenset({subjects.PIPELINE_STREAM, subjects.TRADING_STREAM})
_STEP_OF_CONSUMER = {spec.durable: step.value for step, spec in STEP_CONSUMERS.items()} | {
    spec.durable: "lineage" for spec in LINEAGE_CONSUMERS
}
_DAY = 86400.0


def failing_step(consumer: str) -> str:
    """The step name the delivery middleware of ``consumer``'s service reports failures under."""
    return _STEP_OF_CONSUMER.get(consumer, consumer)


def exhausted_error(advisory: MaxDeliveriesAdvisory) -> str:
    return (
        f"delivered {advisory.deliveries} times to consumer {advisory.consumer} without an acknowledgement: "
        "its handler crashed or ran longer than ack_wait every time"
    )


async def ensure_advisory_stream(js: JetStreamContext, settings: Settings) -> None:
    """Create the stream that keeps max-deliveries advisories and the consumer that reads them (idempotent)."""
    config = api.StreamConfig(
        name=ADVISORY_STREAM,
        subjects=[MAX_DELIVERIES_ADVISORIES],
        retention=api.RetentionPolicy.LIMITS,
        storage=api.StorageType.FILE,
        max_age=settings.stream_max_age_days * _DAY,
        duplicate_window=settings.duplicate_window_seconds,
        num_replicas=settings.stream_replicas,
    )
    try:
        await js.stream_info(ADVISORY_STREAM)
    except NotFoundError:
        await js.add_stream(config)
        log.info("stream_created", stream=ADVISORY_STREAM)
    await js.add_consumer(ADVISORY_STREAM, config=consumer_config(ADVISORY_CONSUMER, settings))


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
                message_id=uuid5(message_id or NAMESPACE_URL, f"StepFailed/{step}/{original.subject}"),
                execution_id=envelope.execution_id,
                strategy_id=envelope.strategy_id,
                replay_of=envelope.replay_of,
                causation_id=message_id,
                step=step,
                kind="retries_exhausted",
                error=error,
                input_subject=original.subject,
                input_message_id=str(message_id) if message_id else None,
                deliveries=deliveries,
            )
        )
