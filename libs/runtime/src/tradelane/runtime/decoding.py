"""Reading a message body: a body that cannot be read is invalid input, like one that breaks its contract.

FastStream decodes a body by its ``content-type`` before the handler's contract validates it. A body
that is not UTF-8, not JSON, or nested deeper than the JSON parser recurses raises a
``UnicodeDecodeError``, a ``JSONDecodeError`` or a ``RecursionError`` there; the delivery rules would
take the last two kinds for an unexpected fault and retry a message that can never be read. This
decoder turns each into a validation error of the message, which the rules terminate at once and
dead-letter with the reason.

A readable JSON body is parsed by pydantic-core rather than the standard library: every service
decodes every message it is delivered, and ``json.loads`` took two to three times as long (about
0.05 ms of a typical 10 KB event, some twenty-five times per backtest decision across the services).
Both give the same values for any JSON; a body pydantic-core refuses (bad input, or a lone UTF-16
surrogate escape, which ``json.loads`` accepts) goes through FastStream's own decoding, so what is
decoded and what is refused, and the words saying why, stay FastStream's.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Final

from faststream.message import StreamMessage
from faststream.types import DecodedMessage
from pydantic import ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError, from_json

Decoder = Callable[[StreamMessage[object]], Awaitable[DecodedMessage]]

_JSON: Final = "application/json"


def unreadable(reason: str) -> ValidationError:
    """The validation error of a message whose body cannot be read, saying why."""
    problem = PydanticCustomError("unreadable_body", "{reason}", {"reason": reason})
    return ValidationError.from_exception_data("message body", [InitErrorDetails(type=problem, loc=(), input=None)])


def why_unreadable(error: ValueError | RecursionError) -> str:
    """A decoding error in words: where the body stops being JSON or UTF-8."""
    if isinstance(error, json.JSONDecodeError):
        return f"not JSON: {error.msg} at line {error.lineno} column {error.colno}"
    if isinstance(error, UnicodeDecodeError):
        return f"not UTF-8 text: byte 0x{error.object[error.start]:02x} at position {error.start}"
    if isinstance(error, RecursionError):
        return "JSON nested too deeply to read"
    return f"not readable: {error}"


async def decode_body(message: StreamMessage[object], default: Decoder) -> DecodedMessage:
    """FastStream's decoding, with an unreadable body reported as invalid input (a broker ``decoder``)."""
    if _read_as_json(message.content_type) and isinstance(message.body, bytes):
        try:
            return from_json(message.body)  # type: ignore[no-any-return]
        except ValueError:
            pass  # FastStream decodes it, or says why it cannot
    try:
        return await default(message)
    except (ValueError, RecursionError) as error:
        raise unreadable(why_unreadable(error)) from error


def _read_as_json(content_type: str | None) -> bool:
    """Whether FastStream would read a body of ``content_type`` as JSON: labelled JSON, or not labelled at all."""
    return not content_type or content_type.startswith(_JSON)
