"""The bus as services see it: publish events, store artefacts, build the broker."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final
from uuid import uuid4

import nats.errors
import structlog
from faststream.nats import JStream, NatsBroker
from faststream.nats.publisher.usecase import LogicPublisher
from nats.js import JetStreamContext, api
from nats.js.api import PubAck
from nats.js.errors import ObjectNotFoundError
from nats.js.object_store import ObjectStore

from tradelane.contracts import subjects
from tradelane.contracts.envelope import Envelope
from tradelane.contracts.market import ObjectRef
from tradelane.runtime import objects
from tradelane.runtime.errors import MessageTooLargeError
from tradelane.runtime.streams import ATOMIC_BATCH_STREAMS

log = structlog.get_logger(__name__)

MESSAGE_ID_HEADER = "Nats-Msg-Id"
CORRELATION_HEADER = "correlation_id"
"""FastStream's header for a message's correlation id; tradelane sets it to the message_id."""
RECOMMENDED_MAX_PAYLOAD = 8 * 1024 * 1024
"""The NATS ``max_payload`` tradelane's own servers and configs set. Bars and series travel by reference
(:mod:`tradelane.runtime.payloads`), so pipeline messages are tens of KB; the room is for the object store's
chunks and for messages of producers that still carry their payloads inline."""


def dedup_headers(event: Envelope) -> dict[str, str]:
    """Headers that let JetStream drop a second publish of the same message."""
    return {MESSAGE_ID_HEADER: str(event.message_id)}


def event_headers(event: Envelope) -> dict[str, str]:
    """Headers of a published event: de-duplication and the content type consumers decode by."""
    return {**dedup_headers(event), "content-type": "application/json"}


PUBLISH_TIMEOUT_SECONDS = 5.0
"""How long a publish waits for its stream's acknowledgement."""

PUBLISH_WINDOW: Final = 1000
"""Events :meth:`EventBus.publish_many` sends together: an atomic batch (nats-server's default limit
on one), or publishes whose acknowledgements it awaits together."""

PUBLISH_WINDOWS_IN_FLIGHT: Final = 3
"""Windows sent before the oldest one's answer is in: the next batch goes out while the server stores one."""


@dataclass(frozen=True, slots=True)
class EncodedEvent:
    """An event serialised for the bus ahead of its publish: what :meth:`EventBus.publish_many` sends.

    A few hundred bytes of overhead besides the body, where the pydantic event it came from
    holds every nested model it carries (an ExecutionRequested: the whole strategy).
    """

    event_type: str
    subject: str
    data: bytes
    headers: dict[str, str]


def encode_event(event: Envelope) -> EncodedEvent:
    """``event`` as :meth:`EventBus.publish` sends it: the contract's JSON, on its subject, with its headers."""
    return EncodedEvent(
        event_type=type(event).__name__,
        subject=subjects.subject_for(event),
        data=event.model_dump_json().encode(),
        headers={**event_headers(event), CORRELATION_HEADER: str(event.message_id)},
    )


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
        self._jetstream: JetStreamContext | None = None
        self._jetstream_of: object = None
        self._pipelined: JetStreamContext | None = None
        self._object_stores: dict[str, ObjectStore] = {}
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
        """The JetStream context of the broker's connection, made once per connection: making one for each
        call was a few percent of a step's CPU (it makes its own API manager), and it keeps no state between
        requests."""
        connection = self._broker.connection
        if self._jetstream is None or self._jetstream_of is not connection:
            self._jetstream, self._jetstream_of = connection.jetstream(), connection
        return self._jetstream

    @property
    def max_payload(self) -> int:
        """The largest message (body and headers) the connected server accepts."""
        return self._broker.connection.max_payload

    async def publish(self, event: Envelope) -> None:
        """Publish ``event`` on its subject, de-duplicated by its message_id, and wait for the ack."""
        encoded = encode_event(event)
        self._refuse_too_large(encoded.event_type, encoded.data)
        # the body is serialised here, not by FastStream: its bytes are the contract's JSON exactly,
        # and the headers carry the de-duplication id JetStream needs
        # the subject given, FastStream does not make the publisher's address again for each message
        await self._publisher(encoded.subject).publish(
            encoded.data, encoded.subject, headers=encoded.headers, correlation_id=str(event.message_id)
        )
        log.debug("event_published", subject=encoded.subject, message_id=str(event.message_id))

    async def publish_many(self, events: Sequence[EncodedEvent]) -> list[Exception | None]:
        """Publish ``events`` in order, :data:`PUBLISH_WINDOW` at a time; each one's outcome.

        A window bound for one of :data:`~tradelane.runtime.streams.ATOMIC_BATCH_STREAMS` goes
        out as an atomic batch: stored all together and flushed to disk once, where JetStream
        flushes a message sent on its own by itself (a few thousand a second at best with
        ``sync_interval: always``). A batch the stream refuses, because it already holds one of
        its messages (another scheduler replica sent it, or an earlier try whose answer was
        lost), goes out again a message at a time, and JetStream drops only the copies. Other
        windows go out a message at a time, their acknowledgements awaited together.

        An event's outcome is None once its stream acknowledged it, else why not: the server's
        refusal, or no answer within :data:`PUBLISH_TIMEOUT_SECONDS`. A window that went
        unanswered or could not be sent (a lost connection) stops the publishing: every later
        event shares its error. Publishing again what failed is safe: the Nats-Msg-Id header
        makes JetStream drop a copy it already stored.
        """
        windows = [events[start : start + PUBLISH_WINDOW] for start in range(0, len(events), PUBLISH_WINDOW)]
        sent: deque[asyncio.Task[tuple[list[Exception | None], Exception | None]]] = deque()
        outcomes: list[Exception | None] = []
        stopped_by: Exception | None = None
        try:
            for window in windows:
                if len(sent) == PUBLISH_WINDOWS_IN_FLIGHT:
                    stopped_by = await self._answered(sent.popleft(), outcomes)
                    if stopped_by is not None:
                        break
                sent.append(asyncio.create_task(self._publish_window(window)))
            while sent:  # those already sent keep their own outcomes
                stopped_by = await self._answered(sent.popleft(), outcomes) or stopped_by
        finally:
            for window_sent in sent:  # cancelled, or a bug raised: nothing is left running
                window_sent.cancel()
        if stopped_by is not None:
            outcomes.extend([stopped_by] * (len(events) - len(outcomes)))
        log.debug("events_published", count=len(events), failed=sum(outcome is not None for outcome in outcomes))
        return outcomes

    @staticmethod
    async def _answered(
        window: asyncio.Task[tuple[list[Exception | None], Exception | None]], outcomes: list[Exception | None]
    ) -> Exception | None:
        """Add a sent window's outcomes to ``outcomes``; the error that stops the publishing, if any."""
        window_outcomes, stopped_by = await window
        outcomes.extend(window_outcomes)
        return stopped_by

    async def _publish_window(self, events: Sequence[EncodedEvent]) -> tuple[list[Exception | None], Exception | None]:
        """Each event's outcome, and the error that should stop the publishing (None to go on)."""
        streams = {subjects.stream_of(event.subject) for event in events}
        stream = streams.pop() if len(streams) == 1 else None
        fits = all(len(event.data) <= self.max_payload for event in events)
        if stream in ATOMIC_BATCH_STREAMS and len(events) > 1 and fits:
            try:
                if await self._publish_batch(stream, events):
                    return [None] * len(events), None
            except (nats.errors.Error, OSError) as error:  # not sent, or no answer to the commit
                return [error] * len(events), error
        return await self._publish_each(events)

    async def _publish_batch(self, stream: str, events: Sequence[EncodedEvent]) -> bool:
        """``events`` as one atomic batch to ``stream``: True once stored, False when refused (none stored)."""
        connection = self._broker.connection
        batch = {api.Header.BATCH_ID.value: uuid4().hex, api.Header.EXPECTED_STREAM.value: stream}
        *leading, last = events
        for sequence, event in enumerate(leading, start=1):
            # only the commit is answered; until then nothing waits, so the whole batch goes out in one write
            headers = {**event.headers, **batch, api.Header.BATCH_SEQUENCE.value: str(sequence)}
            await connection.publish(event.subject, event.data, headers=headers)
        commit = {**batch, api.Header.BATCH_SEQUENCE.value: str(len(events)), api.Header.BATCH_COMMIT.value: "1"}
        reply = await connection.request(
            last.subject, last.data, headers={**last.headers, **commit}, timeout=PUBLISH_TIMEOUT_SECONDS
        )
        answer = json.loads(reply.data)
        if "error" in answer:
            log.debug(
                "atomic_batch_refused", stream=stream, events=len(events), error=answer["error"].get("description")
            )
            return False
        return True

    async def _publish_each(self, events: Sequence[EncodedEvent]) -> tuple[list[Exception | None], Exception | None]:
        """Each event published alone, the acknowledgements awaited together; as :meth:`_publish_window`."""
        jetstream = self._pipelined_jetstream()
        acks: list[asyncio.Future[PubAck] | Exception] = []
        for index, event in enumerate(events):
            try:
                self._refuse_too_large(event.event_type, event.data)
                # no wait_stall: a window never exceeds the context's pending limit, and waiting on it
                # with a timeout would hand control to the loop after every event, one socket write each
                ack = await jetstream.publish_async(
                    event.subject,
                    event.data,
                    stream=subjects.stream_of(event.subject),
                    headers=dict(event.headers),  # nats-py adds the expected stream to the dict it is given
                )
            except MessageTooLargeError as error:
                acks.append(error)
            except (nats.errors.Error, OSError) as error:  # not sent: the connection is closed or broken
                return [_outcome(ack) for ack in acks] + [error] * (len(events) - index), error
            else:
                acks.append(ack)
        pending = [ack for ack in acks if isinstance(ack, asyncio.Future)]
        if pending:
            await asyncio.wait(pending, timeout=PUBLISH_TIMEOUT_SECONDS)
        outcomes = [_outcome(ack) for ack in acks]
        unanswered = next((outcome for outcome in outcomes if isinstance(outcome, TimeoutError)), None)
        return outcomes, unanswered

    def _pipelined_jetstream(self) -> JetStreamContext:
        # one context for the service's life: it holds the subscription the acknowledgements come back on
        if self._pipelined is None:
            self._pipelined = self._broker.connection.jetstream(
                publish_async_max_pending=PUBLISH_WINDOW * PUBLISH_WINDOWS_IN_FLIGHT
            )
        return self._pipelined

    def _refuse_too_large(self, event_type: str, data: bytes) -> None:
        limit = self.max_payload
        if len(data) > limit:
            msg = (
                f"the {event_type} message is {_megabytes(len(data))}, more than the "
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
        sha256 = hashlib.sha256(data).digest()
        name = sha256.hex()
        try:
            await objects.object_info(self.jetstream, bucket, name)
        except ObjectNotFoundError:
            await objects.write_object(self.jetstream, bucket, name, data, content_type, sha256=sha256)
        return ObjectRef(bucket=bucket, name=name, size=len(data), content_type=content_type)

    async def object_store(self, bucket: str) -> ObjectStore:
        """The Object Store ``bucket`` (looked up once: each lookup is a request to the server)."""
        store = self._object_stores.get(bucket)
        if store is None:
            store = self._object_stores[bucket] = await self.jetstream.object_store(bucket)
        return store

    async def object_info(self, bucket: str, name: str) -> api.ObjectInfo:
        """The info of object ``name`` of ``bucket``; ObjectNotFoundError when it is not stored, or deleted."""
        return await objects.object_info(self.jetstream, bucket, name)

    async def get_object(self, ref: ObjectRef) -> bytes:
        """Fetch an artefact's bytes."""
        return await self.read_object(ref.bucket, ref.name)

    async def read_object(self, bucket: str, name: str) -> bytes:
        """The bytes of object ``name`` of ``bucket``; ObjectNotFoundError when it is not (or no longer) stored."""
        return await objects.read_object(self.jetstream, bucket, name)


def _outcome(ack: asyncio.Future[PubAck] | Exception) -> Exception | None:
    """None for an acknowledged publish, else the error (an unanswered one is cancelled: a late ack is dropped)."""
    if isinstance(ack, Exception):
        return ack
    if not ack.done() or ack.cancelled():
        ack.cancel()
        return TimeoutError(f"no acknowledgement from the stream within {PUBLISH_TIMEOUT_SECONDS} s")
    error = ack.exception()
    if error is not None and not isinstance(error, Exception):
        raise error  # a KeyboardInterrupt or the like is no publish outcome
    return error


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"
