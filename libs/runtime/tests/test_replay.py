"""Replays read from JetStream: stored messages, windows of a subject, republishing; against a real NATS."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from tests.support.messages import collect
from tradelane.contracts import subjects
from tradelane.contracts.envelope import utc_now
from tradelane.contracts.events import ExecutionRequested, Trigger
from tradelane.contracts.replay import NotReplayableError, ReplayOverrides
from tradelane.contracts.strategy import StrategyDefinition, SymbolRef
from tradelane.runtime.bus import MESSAGE_ID_HEADER, event_headers
from tradelane.runtime.replay import (
    REPLAYED_FROM_HEADER,
    MessageAgedOutError,
    UnknownSubjectError,
    fetch_message,
    fetch_recorded,
    format_age,
    read_window,
    replay_recorded,
)
from tradelane.runtime.settings import Settings
from tradelane.runtime.streams import provision


@pytest.fixture
async def js(nats_client: NatsClient) -> AsyncIterator[JetStreamContext]:
    context = nats_client.jetstream()
    await provision(context, Settings(nats_url="nats://unused"))
    yield context


def _request(**fields: object) -> ExecutionRequested:
    return ExecutionRequested.model_validate(
        {
            "execution_id": uuid4(),
            "strategy_id": uuid4(),
            "strategy": StrategyDefinition(name="s", symbol=SymbolRef(symbol="AAPL")),
            "trigger": Trigger.MANUAL,
            "as_of": datetime(2026, 11, 20, tzinfo=UTC),
            **fields,
        }
    )


async def _publish(js: JetStreamContext, event: ExecutionRequested) -> int:
    ack = await js.publish(subjects.EXECUTION_REQUESTED, event.model_dump_json().encode(), headers=event_headers(event))
    return ack.seq


async def test_a_stored_message_is_fetched_byte_for_byte(js: JetStreamContext) -> None:
    request = _request()
    sequence = await _publish(js, request)
    stored = await fetch_message(js, subjects.PIPELINE_STREAM, sequence)
    assert stored.data == request.model_dump_json().encode()
    assert stored.headers[MESSAGE_ID_HEADER] == str(request.message_id)
    assert stored.subject == subjects.EXECUTION_REQUESTED


async def test_a_message_gone_from_the_stream_is_refused_naming_the_retention(js: JetStreamContext) -> None:
    sequence = await _publish(js, _request())
    await js.delete_msg(subjects.PIPELINE_STREAM, sequence)
    with pytest.raises(MessageAgedOutError, match=r"keeps messages for 7 days \(max_age\)"):
        await fetch_message(js, subjects.PIPELINE_STREAM, sequence)


async def test_another_message_at_the_recorded_sequence_is_not_taken_for_the_original(js: JetStreamContext) -> None:
    sequence = await _publish(js, _request())
    with pytest.raises(MessageAgedOutError, match="recreated"):
        await fetch_recorded(js, subjects.PIPELINE_STREAM, sequence, uuid4())


async def test_a_recorded_message_is_republished_as_a_replay_with_the_overrides(
    js: JetStreamContext, nats_client: NatsClient
) -> None:
    original = _request()
    sequence = await _publish(js, original)
    heard = await collect(nats_client, subjects.EXECUTION_REQUESTED)
    replayed = await replay_recorded(
        nats_client,
        subject=subjects.EXECUTION_REQUESTED,
        sequence=sequence,
        message_id=original.message_id,
        overrides=ReplayOverrides(prompt_version=4, model="gpt-test"),
    )
    msg = await heard.next(5)
    event = ExecutionRequested.model_validate_json(msg.data)
    assert event.execution_id == replayed.execution_id != original.execution_id
    assert event.replay_of == original.execution_id
    assert event.causation_id is None
    assert (event.strategy.analysis.prompt_version, event.strategy.analysis.model) == (4, "gpt-test")
    assert event.as_of == original.as_of
    assert msg.headers is not None
    assert msg.headers[MESSAGE_ID_HEADER] == str(event.message_id)
    assert msg.headers[REPLAYED_FROM_HEADER] == f"{subjects.PIPELINE_STREAM}:{sequence}"
    assert replayed.sequence == sequence + 1


async def test_a_replay_is_never_dropped_as_a_duplicate_of_its_original(
    js: JetStreamContext, nats_client: NatsClient
) -> None:
    original = _request()
    sequence = await _publish(js, original)
    for _ in range(2):
        await replay_recorded(
            nats_client, subject=subjects.EXECUTION_REQUESTED, sequence=sequence, message_id=original.message_id
        )
    assert (await js.stream_info(subjects.PIPELINE_STREAM)).state.messages == 3


async def test_a_message_that_breaks_its_contract_is_not_replayed(
    js: JetStreamContext, nats_client: NatsClient
) -> None:
    broken = _request().model_dump(mode="json")
    del broken["as_of"]
    ack = await js.publish(subjects.EXECUTION_REQUESTED, json.dumps(broken).encode())
    with pytest.raises(NotReplayableError, match=r"would not satisfy ExecutionRequested: .*as_of"):
        await replay_recorded(
            nats_client, subject=subjects.EXECUTION_REQUESTED, sequence=ack.seq, message_id=UUID(broken["message_id"])
        )
    assert (await js.stream_info(subjects.PIPELINE_STREAM)).state.messages == 1


async def _window(
    js: JetStreamContext,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    start_sequence: int | None = None,
) -> list[int]:
    window = read_window(js, subjects.EXECUTION_REQUESTED, since=since, until=until, start_sequence=start_sequence)
    return [item.message.sequence async for item in window]


async def test_a_window_holds_exactly_the_messages_stored_between_its_bounds(js: JetStreamContext) -> None:
    await _publish(js, _request())
    await asyncio.sleep(0.05)
    since = utc_now()
    inside = [await _publish(js, _request()) for _ in range(3)]
    await js.publish(subjects.MARKET_DATA_FETCHED, b"{}")
    await asyncio.sleep(0.05)
    until = utc_now()
    await asyncio.sleep(0.05)
    await _publish(js, _request())
    assert await _window(js, since=since, until=until) == inside


async def test_a_window_from_a_sequence_runs_to_the_end(js: JetStreamContext) -> None:
    sequences = [await _publish(js, _request()) for _ in range(3)]
    assert await _window(js, start_sequence=sequences[1]) == sequences[1:]


async def test_an_empty_window_yields_nothing(js: JetStreamContext) -> None:
    assert await _window(js, since=utc_now()) == []


async def test_messages_published_while_reading_are_not_read(js: JetStreamContext) -> None:
    sequences = [await _publish(js, _request()) for _ in range(3)]
    read = []
    async for item in read_window(js, subjects.EXECUTION_REQUESTED, start_sequence=sequences[0]):
        read.append(item.message.sequence)
        await _publish(js, _request())
    assert read == sequences


async def test_a_window_starting_before_what_the_stream_kept_is_refused(js: JetStreamContext) -> None:
    since = utc_now()
    await asyncio.sleep(0.05)
    first = await _publish(js, _request())
    await _publish(js, _request())
    await js.delete_msg(subjects.PIPELINE_STREAM, first)
    with pytest.raises(MessageAgedOutError, match=r"aged out: stream PIPELINE keeps messages for 7 days"):
        await _window(js, since=since)


async def test_a_subject_no_stream_stores_is_refused(js: JetStreamContext) -> None:
    with pytest.raises(UnknownSubjectError, match=r"no stream stores 'debug\.nowhere'"):
        [item async for item in read_window(js, "debug.nowhere", since=utc_now())]


@pytest.mark.parametrize(
    ("seconds", "spelled"), [(7 * 86400, "7 days"), (86400, "1 day"), (7200, "2 hours"), (90, "90 seconds")]
)
def test_retention_is_spelled_as_a_person_would(seconds: int, spelled: str) -> None:
    assert format_age(timedelta(seconds=seconds)) == spelled
