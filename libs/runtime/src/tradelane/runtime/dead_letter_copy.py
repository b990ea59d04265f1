"""The copy of a message that goes to the dead-letter stream, and the headers that say why it is there.

A dead letter is the original body and headers on ``deadletter.<subject>``, plus headers naming
the step that gave up, the kind of failure, the error and the deliveries. Both the delivery
middleware and the lineage (for messages whose deliveries ran out unseen) build it here.

The copy must fit the server's ``max_payload``, headers included (and JetStream's 64 KiB of
headers), or its publish fails and the message can never be given up on. The copy is larger than
the original by the headers added here, so an original close to ``max_payload`` (or one carrying
huge headers) does not fit: its dead letter
then carries a **reference** instead of the body, a small JSON object naming the stream and sequence
where the original still is (``body_omitted``), marked by the ``Tradelane-Body-Omitted`` header. The
reference keeps the original's identity fields (``execution_id``, ``message_id``...), so the lineage
still files the dead letter under its execution; it satisfies no contract, so no consumer can take it
for the message, and a redrive fetches the original from its stream instead.

Headers that instruct the server (``Nats-*``: de-duplication id, expected stream or sequence,
rollups) are the original publish's, not the copy's: they are left out, and headers this module
writes are never taken from the original, so a message cannot pass for a dead letter it is not.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from tradelane.contracts import subjects
from tradelane.runtime.bus import MESSAGE_ID_HEADER

ERROR_HEADER: Final = "Tradelane-Error"
ERROR_KIND_HEADER: Final = "Tradelane-Error-Kind"
STEP_HEADER: Final = "Tradelane-Step"
DELIVERIES_HEADER: Final = "Tradelane-Deliveries"
STREAM_SEQUENCE_HEADER: Final = "Tradelane-Stream-Sequence"
BODY_OMITTED_HEADER: Final = "Tradelane-Body-Omitted"
"""On a dead letter that carries a reference instead of the original body: why (with the original's size)."""
ORIGINAL_HEADER: Final = "Tradelane-Original"
"""On a dead letter that carries a reference: ``<stream>:<sequence>`` of the original, which a redrive fetches."""

DEAD_LETTER_HEADERS: Final = frozenset(
    {
        ERROR_HEADER,
        ERROR_KIND_HEADER,
        STEP_HEADER,
        DELIVERIES_HEADER,
        STREAM_SEQUENCE_HEADER,
        BODY_OMITTED_HEADER,
        ORIGINAL_HEADER,
    }
)
"""Headers only a dead letter carries: written here, dropped from an original and from a redriven message."""

MAX_HEADERS: Final = 64 * 1024
"""The most header bytes JetStream stores with a message (it refuses a publish with more)."""
OMITTED_KEY: Final = "body_omitted"
"""The key of a reference body that holds where the original is."""

_MAX_ERROR_HEADER = 2000
_SERVER_HEADER_PREFIX = "nats-"
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
"""What a NATS client may send as a header name (nats-py refuses to publish any other)."""
_IDENTITY_FIELDS = ("message_id", "execution_id", "strategy_id", "occurred_at", "replay_of", "causation_id")
_MAX_IDENTITY_VALUE = 100
_EXPECTED_STREAM_ALLOWANCE = len("Nats-Expected-Stream: \r\n") + 64
"""Room for the header the JetStream client adds to every publish that names its stream."""


@dataclass(frozen=True)
class DeadLetterCopy:
    """What to publish on ``subject`` in the dead-letter stream."""

    subject: str
    body: bytes
    headers: dict[str, str]

    @property
    def body_omitted(self) -> bool:
        return BODY_OMITTED_HEADER in self.headers


def dead_letter_id(subject: str, sequence: int | None, step: str) -> str:
    """The ``Nats-Msg-Id`` of the dead letter ``step`` writes for the message at ``sequence`` of ``subject``.

    The same for every writer (the middleware, the lineage's max-deliveries path), so a message
    dead-lettered by both is kept once. A core NATS message has no sequence and is never redelivered:
    its dead letter needs no de-duplication, and ``core`` keeps it apart from stored messages.
    """
    return f"dead-letter/{subject}/{sequence if sequence is not None else 'core'}/{step}"


def dead_letter_copy(
    *,
    subject: str,
    data: bytes,
    headers: Mapping[str, str] | None,
    stream: str | None,
    sequence: int | None,
    step: str,
    kind: str,
    error: str,
    deliveries: int,
    max_payload: int,
    message_id: str | None = None,
) -> DeadLetterCopy:
    """The dead letter of the message ``data`` (with ``headers``) that ``step`` gave up on, within ``max_payload``."""
    notes = {
        MESSAGE_ID_HEADER: message_id or dead_letter_id(subject, sequence, step),
        ERROR_HEADER: error[:_MAX_ERROR_HEADER].replace("\r", " ").replace("\n", " "),
        ERROR_KIND_HEADER: kind,
        STEP_HEADER: step,
        DELIVERIES_HEADER: str(deliveries),
        STREAM_SEQUENCE_HEADER: str(sequence if sequence is not None else ""),
    }
    full = {**_kept_headers(headers), **notes}
    where = subjects.dead_letter(subject)
    if message_size(data, full) <= max_payload and header_size(full) <= MAX_HEADERS:
        return DeadLetterCopy(where, data, full)
    size = message_size(data, headers or {})
    original = f"{stream}:{sequence}" if stream is not None and sequence is not None else None
    why = (
        f"the original ({size} bytes with its headers) and the dead-letter headers exceed the server's "
        f"max_payload of {max_payload} bytes or JetStream's {MAX_HEADERS} bytes of headers"
    )
    why += f"; it is kept at {original}" if original else "; it was a core NATS message, so it is kept nowhere"
    reference = {
        **_identity(data),
        OMITTED_KEY: {"reason": why, "size": size, "stream": stream, "sequence": sequence},
    }
    omitted = {
        **notes,
        "content-type": "application/json",
        BODY_OMITTED_HEADER: why,
        **({ORIGINAL_HEADER: original} if original else {}),
    }
    return DeadLetterCopy(where, json.dumps(reference, separators=(",", ":")).encode(), omitted)


def original_location(headers: Mapping[str, str]) -> tuple[str, int] | None:
    """Where the original of a dead letter that carries a reference is: (stream, sequence); None otherwise."""
    if BODY_OMITTED_HEADER not in headers:
        return None
    stream, _, sequence = headers.get(ORIGINAL_HEADER, "").rpartition(":")
    if not stream or not sequence.isdigit():
        return None
    return stream, int(sequence)


def _kept_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    """The original's headers a copy keeps: not the server's instructions, not a dead letter's own notes."""
    return {
        name: value
        for name, value in (headers or {}).items()
        if _HEADER_NAME.fullmatch(name.strip())
        and not name.lower().startswith(_SERVER_HEADER_PREFIX)
        and name not in DEAD_LETTER_HEADERS
    }


def message_size(data: bytes, headers: Mapping[str, str]) -> int:
    """Bytes the server counts against ``max_payload``: the body and the header block, as NATS clients encode it."""
    return len(data) + header_size(headers)


def header_size(headers: Mapping[str, str]) -> int:
    """Bytes of the header block, with room for the expected-stream header a JetStream publish adds."""
    block = len("NATS/1.0\r\n\r\n") + _EXPECTED_STREAM_ALLOWANCE
    return block + sum(len(name.encode()) + len(str(value).encode()) + 4 for name, value in headers.items())


def _identity(data: bytes) -> dict[str, Any]:
    """The original's envelope identity fields, when its body is a JSON object that has them as short strings."""
    try:
        body = json.loads(data)
    except (ValueError, RecursionError):
        return {}
    if not isinstance(body, dict):
        return {}
    return {
        name: body[name]
        for name in _IDENTITY_FIELDS
        if isinstance(body.get(name), str) and len(body[name]) <= _MAX_IDENTITY_VALUE
    }
