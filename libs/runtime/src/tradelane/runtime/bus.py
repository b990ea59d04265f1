"""The bus as services see it: publish events, store artefacts, build the broker."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import structlog
from faststream.nats import JStream, NatsBroker
from faststream.nats.publisher.usecase import LogicPublisher
from nats.js import JetStreamContext
from nats.js.api import ObjectMeta
from nats.js.errors import ObjectNotFoundError

from tradelane.contracts import subjects
from tradelane.contracts.envelope import Envelope
from tradelane.contracts.market import ObjectRef
from tradelane.runtime.errors import MessageTooLargeError

log = structlog.get_logger(__name__)

MESSAGE_ID_HEADER = "Nats-Msg-Id"
RECOMMENDED_MAX_PAYLOAD = 8 * 1024 * 1024
"""The NATS ``max_payload`` tradelane's own servers and configs set: room for the largest execution
(5,000 bars with their indicators at the bar size plus three extra timeframes, about 4 MB)."""


def dedup_headers(event: Envelope) -> dict[str, str]:
    """Headers that let JetStream drop a second publish of the same message."""
    return {MESSAGE_ID_HEADER: str(event.message_id)}


def event_headers(event: Envelope) -> dict[str, str]:
    """Headers of a published event: de-duplication and the content type consumers decode by."""
    return {**dedup_headers(event), "content-type": "application/json"}


PUBLISH_TIMEOUT_SECONDS = 5.0
"""How long a publish waits for its stream's acknowledgement."""


def declare_publisher(broker: NatsBroker, subject: str, *, title: str | None = None) -> LogicPublisher:
    """A FastStream publisher of ``subject``, documented with the contract it carries (AsyncAPI).

    A subject a stream stores is published through JetStream, so the publish waits for the
    stream's acknowledgement; the stream is provisioned elsewhere (``declare=False``).
    """
    stream = subjects.stream_of(subject)
    return broker.publisher(
        subject,
        stream=JStream(stream, declare=False) if stream is not None else None,
        timeout=PUBLISH_TIMEOUT_SECONDS,
        title=title,
        schema=subjects.event_type_for(subject),
    )


class EventBus:
    """Publishes contract events on their subjects, and keeps artefacts in the Object Store.

    Events go out through FastStream publishers declared on the broker, one per subject:
    those of ``publishes`` up front (so the service's AsyncAPI document lists them), any
    other on its first publish.
    """

    def __init__(self, broker: NatsBroker, publishes: Iterable[str] = ()) -> None:
        self._broker = broker
        self._publishers: dict[str, LogicPublisher] = {}
        self.declare(*publishes)

    def declare(self, *publishes: str) -> None:
        """Declare the publishers of ``publishes`` now (each once), so the AsyncAPI document lists them."""
        for subject in publishes:
            self._publisher(subject)

    def _publisher(self, subject: str) -> LogicPublisher:
        publisher = self._publishers.get(subject)
        if publisher is None:
            publisher = self._publishers[subject] = declare_publisher(self._broker, subject)
        return publisher

    @property
    def jetstream(self) -> JetStreamContext:
        return self._broker.connection.jetstream()

    @property
    def max_payload(self) -> int:
        """The largest message (body and headers) the connected server accepts."""
        return self._broker.connection.max_payload

    async def publish(self, event: Envelope) -> None:
        """Publish ``event`` on its subject, de-duplicated by its message_id, and wait for the ack."""
        subject = subjects.subject_for(event)
        data = event.model_dump_json().encode()
        self._refuse_too_large(event, data)
        # the body is serialised here, not by FastStream: its bytes are the contract's JSON exactly,
        # and the headers carry the de-duplication id JetStream needs
        await self._publisher(subject).publish(data, headers=event_headers(event), correlation_id=str(event.message_id))
        log.debug("event_published", subject=subject, message_id=str(event.message_id))

    def _refuse_too_large(self, event: Envelope, data: bytes) -> None:
        limit = self.max_payload
        if len(data) > limit:
            msg = (
                f"the {type(event).__name__} message is {_megabytes(len(data))}, more than the "
                f"{_megabytes(limit)} the NATS server accepts (its max_payload); shorten the strategy's duration, "
                f"use a larger bar size or fewer analysis.timeframes, or set max_payload: 8MB on the server "
                f"(tradelane's own configs do)"
            )
            raise MessageTooLargeError(msg)

    async def publish_raw(self, subject: str, payload: bytes, headers: dict[str, str], stream: str) -> None:
        """Publish bytes as they are (dead letters keep the original body untouched)."""
        await self.jetstream.publish(subject, payload, headers=headers, stream=stream, timeout=PUBLISH_TIMEOUT_SECONDS)

    async def put_object(self, data: bytes, content_type: str, bucket: str = subjects.CHART_BUCKET) -> ObjectRef:
        """Store ``data`` under its sha256 (idempotent: the same bytes land once)."""
        digest = hashlib.sha256(data).hexdigest()
        store = await self.jetstream.object_store(bucket)
        try:
            await store.get_info(digest)
        except ObjectNotFoundError:
            await store.put(digest, data, meta=ObjectMeta(name=digest, description=content_type))
        return ObjectRef(bucket=bucket, name=digest, size=len(data), content_type=content_type)

    async def get_object(self, ref: ObjectRef) -> bytes:
        """Fetch an artefact's bytes."""
        store = await self.jetstream.object_store(ref.bucket)
        result = await store.get(ref.name)
        assert result.data is not None
        return result.data


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"
