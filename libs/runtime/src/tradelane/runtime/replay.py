"""The JetStream side of replays: fetch a stored message, read a window of a subject, republish.

Replays read the streams, never the lineage's copy: the stream holds the exact bytes and
headers that were published. A message older than the stream's ``max_age`` is gone; the
errors here say so and name the retention.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from nats.aio.client import Client as NatsClient
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext, api
from nats.js.errors import NotFoundError
from pydantic import ValidationError

from tradelane.contracts import subjects
from tradelane.contracts.envelope import utc_now
from tradelane.contracts.replay import NotReplayableError, ReplayOverrides, replay_payload
from tradelane.runtime.bus import MESSAGE_ID_HEADER
from tradelane.runtime.bus_flush import flush_queued
from tradelane.runtime.decisions import describe

REPLAYED_FROM_HEADER = "Tradelane-Replayed-From"
"""Where a replayed message came from: ``<stream>:<sequence>``."""
_NEXT_MESSAGE_TIMEOUT_SECONDS = 5.0
_SERVER_HEADERS = ("Nats-Expected-Stream", "Nats-Expected-Last-Sequence", "Nats-Expected-Last-Msg-Id")


class ReplayError(Exception):
    """A replay cannot be done as asked; the message says why and what to change."""


class MessageAgedOutError(ReplayError):
    """The message is no longer in its stream."""


class UnknownSubjectError(ReplayError):
    """No stream stores the subject."""


@dataclass(frozen=True)
class Retention:
    """How long a stream keeps messages, and the oldest it still holds."""

    stream: str
    max_age: timedelta | None
    first_sequence: int
    last_sequence: int
    oldest_at: datetime | None

    def describe(self) -> str:
        """The retention in words, e.g. 'keeps messages for 7 days (max_age); the oldest is from ...'."""
        keeps = f"keeps messages for {format_age(self.max_age)} (max_age)" if self.max_age else "keeps messages forever"
        oldest = f"the oldest it holds is from {self.oldest_at.isoformat()}" if self.oldest_at else "it holds none"
        return f"stream {self.stream} {keeps}; {oldest}"


@dataclass(frozen=True)
class StoredMessage:
    """One message as a stream stores it."""

    stream: str
    sequence: int
    subject: str
    data: bytes
    headers: Mapping[str, str]
    stored_at: datetime

    def json(self) -> dict[str, Any] | None:
        """The body as a JSON object, or None when it is not one."""
        try:
            body = json.loads(self.data)
        except ValueError:
            return None
        return body if isinstance(body, dict) else None


def format_age(age: timedelta) -> str:
    """A duration as a person says it: '7 days', '36 hours', '90 seconds'."""
    seconds = int(age.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} seconds"


async def retention(js: JetStreamContext, stream: str) -> Retention:
    """The stream's max_age and its oldest message."""
    info = await js.stream_info(stream)
    oldest_at = None
    if info.state.messages:
        with contextlib.suppress(NotFoundError):
            oldest_at = (await js.get_msg(stream, seq=info.state.first_seq)).time
    max_age = info.config.max_age
    return Retention(
        stream=stream,
        max_age=timedelta(seconds=max_age) if max_age else None,
        first_sequence=info.state.first_seq,
        last_sequence=info.state.last_seq,
        oldest_at=oldest_at,
    )


async def stream_of(js: JetStreamContext, subject: str) -> str:
    """The stream that stores ``subject``; :class:`UnknownSubjectError` when none does."""
    try:
        return await js.find_stream_name_by_subject(subject)
    except NotFoundError as error:
        known = ", ".join((subjects.PIPELINE_ALL, subjects.TRADING_ALL, subjects.DEAD_LETTER_ALL))
        msg = f"no stream stores {subject!r}; tradelane's streams hold {known}"
        raise UnknownSubjectError(msg) from error


async def fetch_message(js: JetStreamContext, stream: str, sequence: int) -> StoredMessage:
    """The message stored at ``sequence``; :class:`MessageAgedOutError` naming the retention when it is gone."""
    try:
        raw = await js.get_msg(stream, seq=sequence)
    except NotFoundError as error:
        kept = await retention(js, stream)
        msg = f"message {sequence} is no longer in stream {stream}: {kept.describe()}"
        raise MessageAgedOutError(msg) from error
    assert raw.subject is not None
    assert raw.time is not None
    return StoredMessage(
        stream=stream,
        sequence=sequence,
        subject=raw.subject,
        data=raw.data or b"",
        headers=dict(raw.headers or {}),
        stored_at=raw.time,
    )


def replay_headers(original: StoredMessage, message_id: str) -> dict[str, str]:
    """The original's headers with a new de-duplication id and a note of where the replay came from."""
    headers = {name: value for name, value in original.headers.items() if name not in _SERVER_HEADERS}
    headers[MESSAGE_ID_HEADER] = message_id
    headers[REPLAYED_FROM_HEADER] = f"{original.stream}:{original.sequence}"
    headers.setdefault("content-type", "application/json")
    return headers


@dataclass(frozen=True)
class Republished:
    """A replayed message as it was published."""

    subject: str
    payload: dict[str, Any]
    headers: dict[str, str]
    stream: str | None
    sequence: int | None
    """Sequence in ``stream``; None when no stream stores the subject (published on core NATS)."""

    @property
    def execution_id(self) -> UUID:
        return UUID(self.payload["execution_id"])


def as_replay(
    original: StoredMessage,
    *,
    execution_id: UUID,
    replayed_at: datetime,
    overrides: ReplayOverrides | None = None,
) -> tuple[dict[str, Any], dict[str, str]]:
    """The body and headers that replay ``original`` as the start of ``execution_id`` (see contracts.replay)."""
    body = original.json()
    payload = replay_payload(
        original.subject, body or {}, execution_id=execution_id, replayed_at=replayed_at, overrides=overrides
    )
    return payload, replay_headers(original, payload["message_id"])


async def publish(
    client: NatsClient, subject: str, payload: Mapping[str, Any], headers: dict[str, str]
) -> tuple[str | None, int | None]:
    """Publish on ``subject``: through JetStream (waiting for the ack) when a stream stores it, else core NATS.

    Returns the stream and sequence it was stored at (None, None for core NATS).
    """
    js = client.jetstream()
    data = json.dumps(payload, separators=(",", ":")).encode()
    try:
        stream = await js.find_stream_name_by_subject(subject)
    except NotFoundError:
        await client.publish(subject, data, headers=headers)
        await flush_queued(client)
        return None, None
    ack = await js.publish(subject, data, headers=headers, stream=stream, timeout=5.0)
    return ack.stream, ack.seq


@dataclass(frozen=True)
class WindowMessage:
    """A message read from a window, with how many more the window may hold (an upper bound)."""

    message: StoredMessage
    remaining: int


async def read_window(
    js: JetStreamContext,
    subject: str,
    *,
    since: datetime | None = None,
    start_sequence: int | None = None,
    until: datetime | None = None,
) -> AsyncGenerator[WindowMessage]:
    """Messages of ``subject`` stored from ``since`` (or ``start_sequence``) up to ``until``, oldest first.

    Reads with an ordered consumer (ephemeral, in memory, no acks), and stops at the last message
    that was in the stream when it started, so messages republished while reading are never read.
    Raises :class:`MessageAgedOutError` when the window starts before the stream's retention.
    """
    stream = await stream_of(js, subject)
    kept = await retention(js, stream)
    _check_window_is_kept(kept, since, start_sequence)
    last_at_start = kept.last_sequence
    config = api.ConsumerConfig(filter_subject=subject)
    if start_sequence is not None:
        config.deliver_policy = api.DeliverPolicy.BY_START_SEQUENCE
        config.opt_start_seq = start_sequence
    elif since is not None:
        config.deliver_policy = api.DeliverPolicy.BY_START_TIME
        config.opt_start_time = since
    else:
        config.deliver_policy = api.DeliverPolicy.ALL
    subscription = await js.subscribe(subject, stream=stream, ordered_consumer=True, config=config)
    try:
        started = await subscription.consumer_info()
        # the server pushes at once: what it delivered already counts as much as what is pending
        delivered = started.delivered.consumer_seq if started.delivered is not None else 0
        pending = (started.num_pending or 0) + (delivered or 0)
        while pending > 0:
            try:
                msg = await subscription.next_msg(timeout=_NEXT_MESSAGE_TIMEOUT_SECONDS)
            except NatsTimeoutError as error:
                raise ReplayError(f"stream {stream} stopped delivering {subject} messages mid-window") from error
            metadata = msg.metadata
            if metadata.sequence.stream > last_at_start or (until is not None and metadata.timestamp > until):
                return
            pending = metadata.num_pending
            stored = StoredMessage(
                stream=stream,
                sequence=metadata.sequence.stream,
                subject=msg.subject,
                data=msg.data,
                headers=dict(msg.headers or {}),
                stored_at=metadata.timestamp,
            )
            yield WindowMessage(stored, pending)
    finally:
        await subscription.unsubscribe()


def _check_window_is_kept(kept: Retention, since: datetime | None, start_sequence: int | None) -> None:
    """Refuse a window that starts before the oldest message, once the stream has dropped older ones."""
    dropped = kept.first_sequence > 1
    if start_sequence is not None and dropped and start_sequence < kept.first_sequence:
        msg = f"messages before sequence {kept.first_sequence} have aged out: {kept.describe()}"
        raise MessageAgedOutError(msg)
    if since is not None and dropped and (kept.oldest_at is None or since < kept.oldest_at):
        msg = f"the window starts at {since.isoformat()}, but messages that old have aged out: {kept.describe()}"
        raise MessageAgedOutError(msg)


async def fetch_recorded(js: JetStreamContext, stream: str, sequence: int, message_id: UUID) -> StoredMessage:
    """The message the lineage recorded as ``message_id`` at ``sequence``, checked to be that very message."""
    stored = await fetch_message(js, stream, sequence)
    body = stored.json() or {}
    if body.get("message_id") != str(message_id):
        msg = (
            f"stream {stream} holds another message at sequence {sequence} than the one recorded "
            f"({message_id}); the stream was recreated since, so the original is gone"
        )
        raise MessageAgedOutError(msg)
    return stored


async def replay_recorded(
    client: NatsClient,
    *,
    subject: str,
    sequence: int,
    message_id: UUID,
    overrides: ReplayOverrides | None = None,
    execution_id: UUID | None = None,
) -> Republished:
    """Republish a recorded message, fetched from its stream, as the start of a new execution.

    Raises :class:`MessageAgedOutError` when the stream no longer holds it, and
    :class:`~tradelane.contracts.replay.NotReplayableError` when the overrides do not fit it.
    """
    js = client.jetstream()
    stream = await stream_of(js, subject)
    original = await fetch_recorded(js, stream, sequence, message_id)
    payload, headers = as_replay(
        original, execution_id=execution_id or uuid4(), replayed_at=utc_now(), overrides=overrides
    )
    contract = subjects.event_type_for(subject)
    if contract is not None:
        try:
            contract.model_validate(payload)
        except ValidationError as error:
            msg = f"the replayed message would not satisfy {contract.__name__}: {describe(error)}"
            raise NotReplayableError(msg) from error
    stored_in, stored_at = await publish(client, subject, payload, headers)
    return Republished(subject=subject, payload=payload, headers=headers, stream=stored_in, sequence=stored_at)
