"""The dead-letter copy: the original whole when it fits, a reference to it when it does not."""

from __future__ import annotations

import json

from tradelane.contracts import subjects
from tradelane.runtime.dead_letter_copy import (
    BODY_OMITTED_HEADER,
    ERROR_HEADER,
    MAX_HEADERS,
    OMITTED_KEY,
    ORIGINAL_HEADER,
    STEP_HEADER,
    dead_letter_copy,
    message_size,
    original_location,
)

LIMIT = 64 * 1024 * 4


def test_a_copy_that_fits_keeps_the_body_and_the_original_headers_but_not_server_or_forged_ones() -> None:
    copy = dead_letter_copy(
        subject=subjects.EXECUTION_REQUESTED,
        data=b'{"a": 1}',
        headers={
            "content-type": "application/json",
            "Nats-Expected-Last-Sequence": "3",
            "Tradelane-Body-Omitted": "forged",
            "Bad Name": "x",
        },
        stream=subjects.PIPELINE_STREAM,
        sequence=7,
        step="market_data",
        kind="invalid_input",
        error="line one\r\nline two",
        deliveries=1,
        max_payload=LIMIT,
    )
    assert copy.body == b'{"a": 1}'
    assert copy.subject == subjects.dead_letter(subjects.EXECUTION_REQUESTED)
    assert copy.headers["content-type"] == "application/json"
    assert copy.headers[ERROR_HEADER] == "line one  line two"
    assert copy.headers[STEP_HEADER] == "market_data"
    assert not copy.body_omitted
    assert {"Nats-Expected-Last-Sequence", "Bad Name"}.isdisjoint(copy.headers)
    assert original_location(copy.headers) is None


def test_a_body_too_large_to_copy_becomes_a_reference_that_keeps_the_identity() -> None:
    data = json.dumps({"execution_id": "e" * 36, "message_id": "m" * 36, "padding": "x" * (LIMIT - 200)}).encode()
    copy = dead_letter_copy(
        subject=subjects.EXECUTION_REQUESTED,
        data=data,
        headers={"Nats-Msg-Id": "original"},
        stream=subjects.PIPELINE_STREAM,
        sequence=7,
        step="market_data",
        kind="invalid_input",
        error="bad input",
        deliveries=1,
        max_payload=LIMIT,
    )
    assert len(data) < LIMIT
    assert copy.body_omitted
    assert message_size(copy.body, copy.headers) <= LIMIT
    assert original_location(copy.headers) == (subjects.PIPELINE_STREAM, 7)
    assert copy.headers[ORIGINAL_HEADER] == f"{subjects.PIPELINE_STREAM}:7"
    assert "max_payload" in copy.headers[BODY_OMITTED_HEADER]
    reference = json.loads(copy.body)
    assert reference["execution_id"] == "e" * 36
    assert reference[OMITTED_KEY]["sequence"] == 7
    assert reference[OMITTED_KEY]["size"] > LIMIT - 200


def test_headers_too_large_for_jetstream_make_a_reference_too() -> None:
    copy = dead_letter_copy(
        subject=subjects.EXECUTION_REQUESTED,
        data=b"{}",
        headers={"X-Huge": "h" * (MAX_HEADERS - 100)},
        stream=subjects.PIPELINE_STREAM,
        sequence=7,
        step="market_data",
        kind="invalid_input",
        error="bad input",
        deliveries=1,
        max_payload=LIMIT * 100,
    )
    assert copy.body_omitted
    assert "X-Huge" not in copy.headers


def test_a_core_message_too_large_to_copy_says_it_is_kept_nowhere() -> None:
    copy = dead_letter_copy(
        subject=subjects.MARKET_DATA_FETCHED,
        data=b"x" * LIMIT,
        headers=None,
        stream=None,
        sequence=None,
        step="broker",
        kind="invalid_input",
        error="bad input",
        deliveries=1,
        max_payload=LIMIT,
    )
    assert copy.body_omitted
    assert ORIGINAL_HEADER not in copy.headers
    assert "kept nowhere" in copy.headers[BODY_OMITTED_HEADER]
    assert copy.headers["Nats-Msg-Id"].endswith("/core/broker")
