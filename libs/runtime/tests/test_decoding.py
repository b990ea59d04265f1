"""An unreadable body is a validation error of the message (invalid input), whatever makes it unreadable."""

from __future__ import annotations

import json

import pytest
from faststream.message import StreamMessage
from faststream.message.utils import decode_message
from faststream.types import DecodedMessage
from pydantic import ValidationError

from tradelane.runtime.decisions import describe
from tradelane.runtime.decoding import decode_body


async def _default(message: StreamMessage[object]) -> DecodedMessage:
    return decode_message(message)


def _message(body: bytes, content_type: str | None) -> StreamMessage[object]:
    return StreamMessage(raw_message=None, body=body, content_type=content_type)


@pytest.mark.parametrize(
    ("body", "content_type", "reason"),
    [
        (b"{not json", "application/json", "not JSON: Expecting property name"),
        (b'{"a": "\xff"}', "application/json", "not UTF-8 text: byte 0xff"),
        (b"\xff", "text/plain", "not UTF-8 text: byte 0xff at position 0"),
        (b"[" * 100_000 + b"]" * 100_000, None, "JSON nested too deeply to read"),
        (b"[" * 100_000 + b"]" * 100_000, "application/json", "JSON nested too deeply to read"),
    ],
)
async def test_an_unreadable_body_is_invalid_input_that_says_why(
    body: bytes, content_type: str | None, reason: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        await decode_body(_message(body, content_type), _default)
    assert describe(refused.value).startswith(f"invalid message body: message: {reason}")


async def test_a_readable_body_is_decoded_as_faststream_does() -> None:
    assert await decode_body(_message(json.dumps({"a": 1}).encode(), "application/json"), _default) == {"a": 1}
    assert await decode_body(_message(b"\xff", None), _default) == b"\xff"


@pytest.mark.parametrize(
    "body",
    [
        b'{"a": 1, "b": [1.5, -0.0, 1e-7, 12345678901234567890123], "c": null, "d": true}',
        '{"symbol": "日本", "note": "tab\\t and quote \\""}'.encode(),
        b'{"lone": "\\ud800"}',  # json.loads accepts a lone surrogate escape, pydantic-core does not
        b'{"a": NaN, "b": Infinity}',
        b'{"a": 1, "a": 2}',
        b"[]",
        b"plain text, not JSON",
        '{"utf-16": true}'.encode("utf-16"),
    ],
)
@pytest.mark.parametrize("content_type", [None, "application/json", "text/plain"])
async def test_any_body_decodes_to_what_faststream_decodes_it_to(body: bytes, content_type: str | None) -> None:
    try:
        expected = decode_message(_message(body, content_type))
    except ValueError:
        with pytest.raises(ValidationError):  # unreadable as FastStream reads it: invalid input
            await decode_body(_message(body, content_type), _default)
        return
    decoded = await decode_body(_message(body, content_type), _default)
    assert json.dumps(decoded, sort_keys=True, default=repr) == json.dumps(expected, sort_keys=True, default=repr)
