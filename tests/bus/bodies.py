"""Hypothesis strategies for bad bus messages, built from a valid message of the subject (its template).

Kinds: ``malformed`` (not JSON, broken JSON, not UTF-8, nested too deep), ``truncated`` (the
template cut anywhere), ``wrong_schema`` (valid JSON: fields missing, of the wrong type, or another
document altogether), ``wrong_version`` (``schema_version`` newer, older than 1, or not an integer),
each with or without bad headers (huge, not UTF-8, bogus ``Nats-Msg-Id``, bogus ``Tradelane-*``,
names no client writes, a content type that is not JSON).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from hypothesis import strategies as st
from pydantic import ValidationError

from tradelane.contracts import subjects
from tradelane.contracts.envelope import SCHEMA_VERSION
from tradelane.runtime.dead_letter_copy import DEAD_LETTER_HEADERS
from tradelane.runtime.deadletters import REDRIVE_HEADER, REDRIVE_PLACES_ORDERS_HEADER
from tradelane.runtime.replay import REPLAYED_FROM_HEADER

Headers = list[tuple[bytes, bytes]]
JSON_TYPE = "application/json"


@dataclass(frozen=True)
class Fuzzed:
    """One bad message: what kind of bad, its body, its headers (None: no header block)."""

    kind: str
    body: bytes
    headers: Headers | None
    version: object = None
    """For ``wrong_version``: the schema_version written."""

    def content_type(self) -> str | None:
        found = [value for name, value in self.headers or [] if name == b"content-type"]
        return found[-1].decode(errors="replace").strip() if found else None


def encoded(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def decoded_as_the_services_do(fuzzed: Fuzzed) -> Any:
    """The body as FastStream hands it to a handler: JSON by default, text or bytes for other content types."""
    content_type = fuzzed.content_type()
    if content_type is not None and not content_type.startswith(JSON_TYPE):
        return fuzzed.body
    try:
        return json.loads(fuzzed.body)
    except (ValueError, RecursionError):
        return fuzzed.body


def contract_refuses(subject: str, fuzzed: Fuzzed) -> bool:
    """True when the subject's contract does not accept the message (the oracle of the fuzz tests)."""
    contract = subjects.event_type_for(subject)
    assert contract is not None, f"{subject} has no contract"
    try:
        contract.model_validate(decoded_as_the_services_do(fuzzed))
    except (ValidationError, RecursionError):
        return True
    return False


def attributable(fuzzed: Fuzzed) -> tuple[UUID, UUID] | None:
    """(execution_id, strategy_id) when the body names both readably, as the failure report reads them."""
    try:
        body = json.loads(fuzzed.body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(body, dict):
        return None
    try:
        return UUID(str(body.get("execution_id"))), UUID(str(body.get("strategy_id")))
    except ValueError:
        return None


_JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=30),
)
_JSON_VALUES = st.recursive(
    _JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def _paths(value: Any, at: tuple[str | int, ...] = (), depth: int = 3) -> list[tuple[str | int, ...]]:
    """Paths of the values in a JSON document, down to ``depth`` (lists: their first item only)."""
    found = [at] if at else []
    if depth == 0:
        return found
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*at, key), depth - 1)
    elif isinstance(value, list) and value:
        found += _paths(value[0], (*at, 0), depth - 1)
    return found


def _replaced(value: Any, at: tuple[str | int, ...], new: Any) -> Any:
    if not at:
        return new
    head, *rest = at
    copy: Any = list(value) if isinstance(value, list) else dict(value)
    copy[head] = _replaced(value[head], tuple(rest), new)
    return copy


def _without(value: Any, at: tuple[str | int, ...]) -> Any:
    """``value`` without the item at ``at`` (a key of an object, or an item of a list)."""
    head, *rest = at
    if isinstance(value, dict):
        if not rest:
            return {key: item for key, item in value.items() if key != head}
        return {**value, head: _without(value[head], tuple(rest))}
    if isinstance(value, list) and isinstance(head, int):
        if not rest:
            return [item for index, item in enumerate(value) if index != head]
        return [*value[:head], _without(value[head], tuple(rest)), *value[head + 1 :]]
    return value


def malformed(template: dict[str, Any]) -> st.SearchStrategy[bytes]:
    raw = encoded(template)
    first_string = raw.index(b'":"') + 3
    return st.one_of(
        st.binary(max_size=64),
        st.sampled_from([b"", b"null", b"[]", b"0", b'"text"', b"NaN", b"{", b"}", b"\xef\xbb\xbf{}", b"{}"]),
        st.tuples(st.integers(0, len(raw) - 1), st.binary(min_size=1, max_size=3)).map(
            lambda change: raw[: change[0]] + change[1] + raw[change[0] + 1 :]
        ),
        st.integers(1_000, 60_000).map(lambda depth: b"[" * depth + b"]" * depth),
        st.integers(1_000, 20_000).map(lambda depth: raw[:-1] + b',"deep":' + b"[" * depth + b"]" * depth + b"}"),
        st.binary(min_size=1, max_size=4).map(lambda junk: raw[:first_string] + b"\xff" + junk + raw[first_string:]),
    )


def truncated(template: dict[str, Any]) -> st.SearchStrategy[bytes]:
    raw = encoded(template)
    return st.integers(0, len(raw) - 1).map(lambda cut: raw[:cut])


def wrong_schema(template: dict[str, Any]) -> st.SearchStrategy[bytes]:
    paths = _paths(template)
    return st.one_of(
        st.tuples(st.sampled_from(paths), _JSON_VALUES).map(lambda change: encoded(_replaced(template, *change))),
        st.sampled_from(paths).map(lambda path: encoded(_without(template, path))),
        _JSON_VALUES.map(encoded),
    )


def wrong_version(template: dict[str, Any]) -> st.SearchStrategy[tuple[object, bytes]]:
    versions: st.SearchStrategy[object] = st.one_of(
        st.integers(min_value=SCHEMA_VERSION + 1, max_value=10**9),
        st.integers(min_value=-(10**9), max_value=0),
        st.sampled_from([str(SCHEMA_VERSION), str(SCHEMA_VERSION + 1), float(SCHEMA_VERSION), 1.5, True, None, []]),
    )
    return versions.map(lambda version: (version, encoded({**template, "schema_version": version})))


_NO_LINE_BREAK = st.binary(max_size=40).map(lambda value: value.replace(b"\r", b"").replace(b"\n", b""))
_TRADELANE_HEADERS = sorted(
    name.encode() for name in {*DEAD_LETTER_HEADERS, REDRIVE_HEADER, REDRIVE_PLACES_ORDERS_HEADER, REPLAYED_FROM_HEADER}
)


def _header() -> st.SearchStrategy[tuple[bytes, bytes]]:
    text = st.text(st.characters(exclude_characters="\r\n"), max_size=60).map(str.encode)
    bogus_values = st.one_of(
        text, _NO_LINE_BREAK, st.sampled_from([b"", b"-1", b"true", b"TRUE", b"9" * 30, b"PIPELINE:1", b"x:y:z"])
    )
    return st.one_of(
        st.tuples(st.just(b"Nats-Msg-Id"), st.one_of(text, _NO_LINE_BREAK, st.integers(300, 5000).map(b"m".__mul__))),
        st.tuples(st.sampled_from(_TRADELANE_HEADERS), bogus_values),
        st.tuples(st.just(b"X-Fuzz-Big"), st.integers(1_000, 60_000).map(b"b".__mul__)),
        st.tuples(st.just(b"X-Fuzz-Bytes"), _NO_LINE_BREAK),
        st.tuples(st.sampled_from([b"Bad Name", b"Caf\xc3\xa9", b"X\x01Ctl", b"-"]), bogus_values),
        st.tuples(
            st.just(b"content-type"),
            st.sampled_from([JSON_TYPE.encode(), b"application/json; charset=latin-1", b"text/plain", b"\xff"]),
        ),
        st.tuples(st.just(b"Nats-Expected-Stream"), st.just(subjects.PIPELINE_STREAM.encode())),
    )


def headers() -> st.SearchStrategy[Headers | None]:
    return st.one_of(st.none(), st.lists(_header(), max_size=4))


def bad_messages(template: dict[str, Any]) -> st.SearchStrategy[Fuzzed]:
    """Every kind of bad message made from ``template``, each with or without bad headers."""
    return st.one_of(
        st.tuples(malformed(template), headers()).map(lambda made: Fuzzed("malformed", *made)),
        st.tuples(truncated(template), headers()).map(lambda made: Fuzzed("truncated", *made)),
        st.tuples(wrong_schema(template), headers()).map(lambda made: Fuzzed("wrong_schema", *made)),
        st.tuples(wrong_version(template), headers()).map(
            lambda made: Fuzzed("wrong_version", made[0][1], made[1], version=made[0][0])
        ),
    )


def valid_with_bad_headers(template: dict[str, Any]) -> st.SearchStrategy[Fuzzed]:
    """The template itself, with bad headers."""
    return st.lists(_header(), min_size=1, max_size=4).map(lambda made: Fuzzed("headers", encoded(template), made))
