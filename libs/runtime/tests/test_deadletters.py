"""The dead-letter stream: list, show and redrive, against a real NATS server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from uuid import uuid4

import pytest
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from tradelane.contracts import subjects
from tradelane.contracts.events import ExecutionRequested, Trigger
from tradelane.contracts.strategy import StrategyDefinition, SymbolRef
from tradelane.runtime.bus import MESSAGE_ID_HEADER, RECOMMENDED_MAX_PAYLOAD, event_headers
from tradelane.runtime.deadletters import (
    REDRIVE_HEADER,
    REDRIVE_PLACES_ORDERS_HEADER,
    DeadLetter,
    DeadLetterNotFoundError,
    count_dead_letters,
    dead_letter_message,
    get_dead_letter,
    list_dead_letters,
    redrive,
    redrive_headers,
    redrive_places_orders,
)
from tradelane.runtime.decisions import ERROR_HEADER, STEP_HEADER
from tradelane.runtime.replay import fetch_message
from tradelane.runtime.settings import Settings
from tradelane.runtime.streams import provision


@pytest.fixture
async def js(nats_client: NatsClient) -> AsyncIterator[JetStreamContext]:
    context = nats_client.jetstream()
    await provision(context, Settings(nats_url="nats://unused"))
    yield context


def _request() -> ExecutionRequested:
    return ExecutionRequested(
        execution_id=uuid4(),
        strategy_id=uuid4(),
        strategy=StrategyDefinition(name="s", symbol=SymbolRef(symbol="AAPL")),
        trigger=Trigger.MANUAL,
        as_of=datetime(2026, 11, 20, tzinfo=UTC),
    )


async def _publish(js: JetStreamContext, request: ExecutionRequested) -> int:
    ack = await js.publish(
        subjects.EXECUTION_REQUESTED, request.model_dump_json().encode(), headers=event_headers(request)
    )
    return ack.seq


async def _dead_letter(js: JetStreamContext, error: str = "provider down") -> ExecutionRequested:
    """Publish a request and dead-letter it as the market-data step would after its retries."""
    request = _request()
    ack = await js.publish(
        subjects.EXECUTION_REQUESTED, request.model_dump_json().encode(), headers=event_headers(request)
    )
    original = await fetch_message(js, subjects.PIPELINE_STREAM, ack.seq)
    await dead_letter_message(
        js,
        original,
        step="market_data",
        kind="retries_exhausted",
        error=error,
        deliveries=5,
        max_payload=RECOMMENDED_MAX_PAYLOAD,
    )
    return request


async def test_dead_letters_list_oldest_first_with_why_they_gave_up(js: JetStreamContext) -> None:
    first, second = await _dead_letter(js, "first"), await _dead_letter(js, "second")
    found = await list_dead_letters(js)
    assert [d.execution_id for d in found] == [str(first.execution_id), str(second.execution_id)]
    assert [(d.subject, d.step, d.kind, d.deliveries, d.error) for d in found] == [
        (subjects.EXECUTION_REQUESTED, "market_data", "retries_exhausted", 5, "first"),
        (subjects.EXECUTION_REQUESTED, "market_data", "retries_exhausted", 5, "second"),
    ]
    assert found[0].original_sequence == 1
    assert await count_dead_letters(js) == 2


async def test_a_limit_keeps_the_oldest(js: JetStreamContext) -> None:
    for _ in range(3):
        await _dead_letter(js)
    assert [d.id for d in await list_dead_letters(js, limit=2)] == [1, 2]


async def test_the_same_message_dead_lettered_twice_by_the_same_step_is_kept_once(js: JetStreamContext) -> None:
    """The middleware and the max-deliveries advisory may both report one message; JetStream keeps one copy."""
    request = _request()
    ack = await js.publish(
        subjects.EXECUTION_REQUESTED, request.model_dump_json().encode(), headers=event_headers(request)
    )
    original = await fetch_message(js, subjects.PIPELINE_STREAM, ack.seq)
    for _ in range(2):
        await dead_letter_message(
            js,
            original,
            step="market_data",
            kind="retries_exhausted",
            error="e",
            deliveries=5,
            max_payload=RECOMMENDED_MAX_PAYLOAD,
        )
    assert await count_dead_letters(js) == 1


async def test_a_dead_letter_shows_the_original_body_and_headers(js: JetStreamContext) -> None:
    request = await _dead_letter(js)
    [listed] = await list_dead_letters(js)
    shown = await get_dead_letter(js, listed.id)
    assert ExecutionRequested.model_validate(shown.body) == request
    assert shown.headers[STEP_HEADER] == "market_data"
    assert shown.headers[ERROR_HEADER] == "provider down"


async def test_an_unknown_dead_letter_is_refused_by_id(js: JetStreamContext) -> None:
    with pytest.raises(DeadLetterNotFoundError, match="no dead letter 42"):
        await get_dead_letter(js, 42)


async def test_redriving_republishes_the_original_body_under_a_new_id_and_removes_the_dead_letter(
    js: JetStreamContext, nats_client: NatsClient
) -> None:
    request = await _dead_letter(js)
    [dead] = await list_dead_letters(js)
    heard: asyncio.Queue[Msg] = asyncio.Queue()

    async def put(msg: Msg) -> None:
        await heard.put(msg)

    await nats_client.subscribe(subjects.EXECUTION_REQUESTED, cb=put)
    redriven = await redrive(js, dead.id, max_payload=RECOMMENDED_MAX_PAYLOAD)
    msg = await asyncio.wait_for(heard.get(), 5)
    assert msg.data == request.model_dump_json().encode()
    assert msg.headers is not None
    assert msg.headers[REDRIVE_HEADER] == str(dead.id)
    assert msg.headers[MESSAGE_ID_HEADER] == redriven.message_id_header != str(request.message_id)
    assert STEP_HEADER not in msg.headers and ERROR_HEADER not in msg.headers
    assert (redriven.subject, redriven.stream, redriven.sequence) == (subjects.EXECUTION_REQUESTED, "PIPELINE", 2)
    assert await list_dead_letters(js) == []


async def test_a_dead_letter_redriven_already_cannot_be_redriven_again(js: JetStreamContext) -> None:
    await _dead_letter(js)
    [dead] = await list_dead_letters(js)
    await redrive(js, dead.id, max_payload=RECOMMENDED_MAX_PAYLOAD)
    with pytest.raises(DeadLetterNotFoundError):
        await redrive(js, dead.id, max_payload=RECOMMENDED_MAX_PAYLOAD)


async def test_a_redrive_places_no_orders_unless_asked(js: JetStreamContext, nats_client: NatsClient) -> None:
    """The header is always written, so the broker can tell an operator's explicit yes from a default."""
    await _dead_letter(js)
    await _dead_letter(js)
    first, second = await list_dead_letters(js)
    heard: asyncio.Queue[Msg] = asyncio.Queue()

    async def put(msg: Msg) -> None:
        await heard.put(msg)

    await nats_client.subscribe(subjects.EXECUTION_REQUESTED, cb=put)
    await redrive(js, first.id, max_payload=RECOMMENDED_MAX_PAYLOAD)
    await redrive(js, second.id, max_payload=RECOMMENDED_MAX_PAYLOAD, place_orders=True)
    plain, asked = (await asyncio.wait_for(heard.get(), 5), await asyncio.wait_for(heard.get(), 5))
    assert plain.headers is not None and asked.headers is not None
    assert plain.headers[REDRIVE_PLACES_ORDERS_HEADER] == "false"
    assert not redrive_places_orders(plain.headers)
    assert asked.headers[REDRIVE_PLACES_ORDERS_HEADER] == "true"
    assert redrive_places_orders(asked.headers)


def test_a_flag_left_from_an_earlier_redrive_does_not_carry_over() -> None:
    earlier = DeadLetter(
        id=9, subject=subjects.SIGNAL_GENERATED, step="broker", error="x", kind="permanent", deliveries=1,
        original_sequence=3, dead_lettered_at=datetime.now(UTC), data=b"{}",
        headers={REDRIVE_PLACES_ORDERS_HEADER: "true", REDRIVE_HEADER: "4"},
    )  # fmt: skip
    headers = redrive_headers(earlier)
    assert (headers[REDRIVE_PLACES_ORDERS_HEADER], headers[REDRIVE_HEADER]) == ("false", "9")
    assert not redrive_places_orders(headers)
