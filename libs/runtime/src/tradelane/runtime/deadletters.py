"""The dead-letter stream: list, inspect and redrive messages a step gave up on.

A dead letter is a copy of the original message (body and headers untouched) on
``deadletter.<original subject>`` in the ``DEADLETTER`` stream, with headers saying which step
gave up, why, and after how many deliveries (see ``dead_letter_copy``); an original too large to
copy is referred to by its stream and sequence instead. Its id is its sequence in ``DEADLETTER``.

Redriving publishes the original body to the original subject again, with a new
``Nats-Msg-Id`` (the original id would be dropped by JetStream's de-duplication) and a
``Tradelane-Redrive-Of`` header naming the dead letter, then **deletes** the dead letter from
``DEADLETTER``: the stream lists what is still waiting for a decision, and the lineage keeps
the history (the ``dead_letter`` step, then a ``redriven`` step). A redriven message that fails
again becomes a new dead letter with a new id.

A redriven signal places no order unless the redrive asked for it (``place_orders``, sent as the
``Tradelane-Redrive-Places-Orders: true`` header): a signal that waited in the dead-letter
stream is stale, and an operator clearing the stream should not trade by accident.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from uuid import uuid4

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from tradelane.contracts import subjects
from tradelane.contracts.events import FailureKind
from tradelane.runtime.bus import MESSAGE_ID_HEADER
from tradelane.runtime.dead_letter_copy import (
    DEAD_LETTER_HEADERS,
    DELIVERIES_HEADER,
    ERROR_HEADER,
    ERROR_KIND_HEADER,
    STEP_HEADER,
    STREAM_SEQUENCE_HEADER,
    dead_letter_copy,
    message_size,
    original_location,
)
from tradelane.runtime.replay import MessageAgedOutError, StoredMessage, fetch_message

REDRIVE_HEADER = "Tradelane-Redrive-Of"
"""On a redriven message: the id (DEADLETTER sequence) of the dead letter it came from."""
REDRIVE_PLACES_ORDERS_HEADER = "Tradelane-Redrive-Places-Orders"
"""On a redriven message: ``true`` when the operator asked that a redriven signal may place orders."""
_SERVER_HEADER_PREFIX = "nats-"


class DeadLetterNotFoundError(LookupError):
    """No dead letter has this id (never had, or it was redriven already)."""

    def __init__(self, dead_letter_id: int) -> None:
        super().__init__(
            f"no dead letter {dead_letter_id} in stream {subjects.DEAD_LETTER_STREAM}; "
            "it was redriven already or never existed (list them with `tradelane dlq list`)"
        )
        self.dead_letter_id = dead_letter_id


@dataclass(frozen=True)
class DeadLetter:
    """A message a step gave up on, as the dead-letter stream holds it."""

    id: int
    subject: str
    """The original subject (without the ``deadletter.`` prefix)."""
    step: str | None
    error: str | None
    kind: str | None
    deliveries: int | None
    original_sequence: int | None
    """Sequence of the original message in its stream, when known."""
    dead_lettered_at: datetime
    data: bytes
    headers: Mapping[str, str]

    @property
    def body(self) -> dict[str, Any] | None:
        """The original body as a JSON object, or None when it is not one."""
        try:
            body = json.loads(self.data)
        except ValueError:
            return None
        return body if isinstance(body, dict) else None

    @property
    def execution_id(self) -> str | None:
        value = (self.body or {}).get("execution_id")
        return value if isinstance(value, str) else None

    @property
    def message_id(self) -> str | None:
        value = (self.body or {}).get("message_id")
        return value if isinstance(value, str) else None


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


def _dead_letter(
    sequence: int, subject: str, data: bytes | None, headers: Mapping[str, str] | None, at: datetime
) -> DeadLetter:
    found = dict(headers or {})
    return DeadLetter(
        id=sequence,
        subject=subjects.original_of(subject),
        step=found.get(STEP_HEADER),
        error=found.get(ERROR_HEADER),
        kind=found.get(ERROR_KIND_HEADER),
        deliveries=_int_or_none(found.get(DELIVERIES_HEADER)),
        original_sequence=_int_or_none(found.get(STREAM_SEQUENCE_HEADER)),
        dead_lettered_at=at,
        data=data or b"",
        headers=found,
    )


async def count_dead_letters(js: JetStreamContext) -> int:
    """How many dead letters wait for a decision."""
    return (await js.stream_info(subjects.DEAD_LETTER_STREAM)).state.messages


async def list_dead_letters(js: JetStreamContext, *, limit: int | None = None) -> list[DeadLetter]:
    """Dead letters, oldest first (up to ``limit``)."""
    found: list[DeadLetter] = []
    sequence = 1
    while limit is None or len(found) < limit:
        try:
            raw = await js.get_msg(
                subjects.DEAD_LETTER_STREAM, seq=sequence, subject=subjects.DEAD_LETTER_ALL, next=True
            )
        except NotFoundError:
            break
        assert raw.seq is not None and raw.subject is not None and raw.time is not None
        found.append(_dead_letter(raw.seq, raw.subject, raw.data, raw.headers, raw.time))
        sequence = raw.seq + 1
    return found


async def get_dead_letter(js: JetStreamContext, dead_letter_id: int) -> DeadLetter:
    """One dead letter; :class:`DeadLetterNotFoundError` when there is none with this id."""
    try:
        raw = await js.get_msg(subjects.DEAD_LETTER_STREAM, seq=dead_letter_id)
    except NotFoundError as error:
        raise DeadLetterNotFoundError(dead_letter_id) from error
    assert raw.subject is not None and raw.time is not None
    return _dead_letter(dead_letter_id, raw.subject, raw.data, raw.headers, raw.time)


@dataclass(frozen=True)
class Redriven:
    """A dead letter published again on its original subject."""

    dead_letter_id: int
    subject: str
    stream: str
    sequence: int
    message_id_header: str


def redrive_headers(dead_letter: DeadLetter, *, place_orders: bool = False) -> dict[str, str]:
    """The original message's headers, with a new de-duplication id, a note of the dead letter, and the trading flag.

    A dead letter's own notes and the original publish's server instructions (``Nats-*``) are left out.
    The flag is always written (``false`` unless asked), so a header left from an earlier redrive never carries over.
    """
    headers = {
        name: value
        for name, value in dead_letter.headers.items()
        if name not in DEAD_LETTER_HEADERS and not name.lower().startswith(_SERVER_HEADER_PREFIX)
    }
    headers[MESSAGE_ID_HEADER] = f"redrive/{dead_letter.id}/{uuid4()}"
    headers[REDRIVE_HEADER] = str(dead_letter.id)
    headers[REDRIVE_PLACES_ORDERS_HEADER] = "true" if place_orders else "false"
    return headers


async def with_original(js: JetStreamContext, dead_letter: DeadLetter) -> DeadLetter:
    """The dead letter with the original body and headers, fetched from their stream when it carries a reference.

    Raises :class:`LookupError` when the reference names a message its stream no longer holds.
    """
    location = original_location(dead_letter.headers)
    if location is None:
        return dead_letter
    stream, sequence = location
    try:
        original = await fetch_message(js, stream, sequence)
    except MessageAgedOutError as error:
        msg = f"dead letter {dead_letter.id} refers to its original, which is gone: {error}"
        raise LookupError(msg) from error
    return replace(dead_letter, data=original.data, headers=original.headers)


def redrive_places_orders(headers: Mapping[str, str] | None) -> bool:
    """Whether a redriven message's headers say the operator let it place orders."""
    return (headers or {}).get(REDRIVE_PLACES_ORDERS_HEADER, "").strip().lower() == "true"


class RedriveTooLargeError(LookupError):
    """The original with the redrive's headers would exceed the server's max_payload (the server would cut the line)."""


async def redrive(
    js: JetStreamContext, dead_letter_id: int, *, max_payload: int, place_orders: bool = False
) -> Redriven:
    """Publish the dead letter's original body on its original subject, then delete the dead letter.

    A dead letter that carries a reference (its original was too large to copy) republishes the
    original from its stream. ``max_payload`` is the server's: a message the server would refuse is
    not sent (the server closes the connection of a client that sends one), :class:`RedriveTooLargeError`
    says so. ``place_orders`` lets a redriven signal place orders; off by default.
    """
    dead_letter = await with_original(js, await get_dead_letter(js, dead_letter_id))
    try:
        stream = await js.find_stream_name_by_subject(dead_letter.subject)
    except NotFoundError as error:
        msg = f"dead letter {dead_letter_id} came from {dead_letter.subject!r}, which no stream stores any more"
        raise LookupError(msg) from error
    headers = redrive_headers(dead_letter, place_orders=place_orders)
    size = message_size(dead_letter.data, headers)
    if size > max_payload:
        msg = (
            f"dead letter {dead_letter_id}: its original with the redrive's headers is {size} bytes, more than the "
            f"server's max_payload of {max_payload}; raise max_payload on the server, or replay its execution"
        )
        raise RedriveTooLargeError(msg)
    ack = await js.publish(dead_letter.subject, dead_letter.data, headers=headers, stream=stream, timeout=5.0)
    # NotFound: redriven concurrently by someone else; both copies went out, and handlers are idempotent
    with contextlib.suppress(NotFoundError):
        await js.delete_msg(subjects.DEAD_LETTER_STREAM, dead_letter_id)
    return Redriven(dead_letter_id, dead_letter.subject, ack.stream, ack.seq, headers[MESSAGE_ID_HEADER])


async def dead_letter_message(
    js: JetStreamContext,
    original: StoredMessage,
    *,
    step: str,
    kind: FailureKind,
    error: str,
    deliveries: int,
    max_payload: int,
) -> None:
    """Put a copy of ``original`` in the dead-letter stream, as the delivery middleware would have.

    The copy's ``Nats-Msg-Id`` is the middleware's, so a message dead-lettered by both the
    middleware and the max-deliveries advisory is kept once.
    """
    copy = dead_letter_copy(
        subject=original.subject,
        data=original.data,
        headers=original.headers,
        stream=original.stream,
        sequence=original.sequence,
        step=step,
        kind=kind,
        error=error,
        deliveries=deliveries,
        max_payload=max_payload,
    )
    await js.publish(copy.subject, copy.body, headers=copy.headers, stream=subjects.DEAD_LETTER_STREAM, timeout=5.0)
