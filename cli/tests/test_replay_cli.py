"""`tradelane replay` against real NATS and PostgreSQL: executions from a step, and windows of a subject."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from cli.tests.conftest import Cli
from tests.support.messages import collect
from tests.support.waiting import consistently
from tradelane.contracts import subjects
from tradelane.contracts.envelope import Envelope, utc_now
from tradelane.contracts.events import BarsFetched, ExecutionRequested, Trigger
from tradelane.contracts.market import Bar, ResolvedSymbol
from tradelane.contracts.strategy import AssetType, BarSize, StrategyDefinition, SymbolRef
from tradelane.runtime.bus import event_headers
from tradelane.runtime.payloads import bars_window
from tradelane.runtime.replay import REPLAYED_FROM_HEADER
from tradelane.runtime.settings import Settings
from tradelane.runtime.streams import provision
from tradelane.store.lineage import LineageRepository, StepRecord
from tradelane.store.pool import create_pool


@pytest.fixture
async def js(nats_client: NatsClient, settings: Settings) -> AsyncIterator[JetStreamContext]:
    context = nats_client.jetstream()
    await provision(context, settings)
    yield context


@pytest.fixture
async def lineage(database_url: str) -> AsyncIterator[LineageRepository]:
    pool = await create_pool(database_url)
    yield LineageRepository(pool)
    await pool.close()


def _request(strategy_id: UUID | None = None) -> ExecutionRequested:
    return ExecutionRequested(
        execution_id=uuid4(),
        strategy_id=strategy_id or uuid4(),
        strategy=StrategyDefinition(name="s", symbol=SymbolRef(symbol="AAPL")),
        trigger=Trigger.MANUAL,
        as_of=datetime(2026, 11, 20, tzinfo=UTC),
    )


def _bars(request: ExecutionRequested) -> BarsFetched:
    return request.follow(
        BarsFetched,
        strategy=request.strategy,
        symbol=ResolvedSymbol(conid=1, symbol="AAPL", exchange="NASDAQ", currency="USD", asset_type=AssetType.STOCK),
        bars=bars_window(1, BarSize.DAY_1, (Bar(time=request.as_of, open=1, high=2, low=0.5, close=1.5, volume=10),)),
        provider="test",
    )


async def _publish(js: JetStreamContext, subject: str, event: Envelope) -> int:
    ack = await js.publish(subject, event.model_dump_json().encode(), headers=event_headers(event))
    return ack.seq


async def _record(lineage: LineageRepository, step: str, subject: str, event: Envelope, sequence: int) -> None:
    await lineage.record(
        StepRecord(
            execution_id=event.execution_id,
            strategy_id=event.strategy_id,
            step=step,
            message_id=event.message_id,
            causation_id=event.causation_id,
            subject=subject,
            stream_sequence=sequence,
            status="succeeded",
            payload=event.model_dump(mode="json"),
            occurred_at=event.occurred_at,
        )
    )


async def _recorded_run(js: JetStreamContext, lineage: LineageRepository) -> tuple[ExecutionRequested, int, int]:
    """An execution that got as far as its bars: published to the stream and recorded in the lineage."""
    request = _request()
    bars = _bars(request)
    request_sequence = await _publish(js, subjects.EXECUTION_REQUESTED, request)
    bars_sequence = await _publish(js, subjects.MARKET_DATA_FETCHED, bars)
    await _record(lineage, "requested", subjects.EXECUTION_REQUESTED, request, request_sequence)
    await _record(lineage, "market_data", subjects.MARKET_DATA_FETCHED, bars, bars_sequence)
    return request, request_sequence, bars_sequence


async def test_an_execution_replays_from_a_step_with_overrides_as_a_new_execution(
    cli: Cli, js: JetStreamContext, lineage: LineageRepository, nats_client: NatsClient
) -> None:
    request, _, bars_sequence = await _recorded_run(js, lineage)
    heard = await collect(nats_client, subjects.MARKET_DATA_FETCHED)
    result = await cli(
        "replay", str(request.execution_id), "--from-step", "indicators", "--prompt-version", "3", "--no-cache"
    )
    assert result.code == 0, result.err
    replayed = BarsFetched.model_validate_json((await heard.next(5)).data)
    assert str(replayed.execution_id) == result.out.strip()
    assert replayed.replay_of == request.execution_id
    assert (replayed.strategy.analysis.prompt_version, replayed.strategy.analysis.cache) == (3, False)
    assert replayed.bars == _bars(request).bars
    assert f"{subjects.MARKET_DATA_FETCHED} #{bars_sequence} as PIPELINE:" in result.err


async def test_a_replay_lets_its_signal_trade_only_with_place_orders(
    cli: Cli, js: JetStreamContext, lineage: LineageRepository, nats_client: NatsClient
) -> None:
    request, _, _ = await _recorded_run(js, lineage)
    heard = await collect(nats_client, subjects.MARKET_DATA_FETCHED)
    plain = await cli("replay", str(request.execution_id), "--from-step", "indicators")
    asked = await cli("replay", str(request.execution_id), "--from-step", "indicators", "--place-orders")
    assert (plain.code, asked.code) == (0, 0), (plain.err, asked.err)
    replays = [BarsFetched.model_validate_json((await heard.next(5)).data) for _ in range(2)]
    flags = {str(replay.execution_id): replay.replay_places_orders for replay in replays}
    assert (flags[plain.out.strip()], flags[asked.out.strip()]) == (False, True)


async def test_an_unknown_execution_exits_2_naming_it(cli: Cli, js: JetStreamContext) -> None:
    missing = uuid4()
    result = await cli("replay", str(missing))
    assert result.code == 2
    assert f"no execution with id {missing}" in result.err


async def test_a_step_never_reached_exits_2_naming_the_steps_it_can_replay(
    cli: Cli, js: JetStreamContext, lineage: LineageRepository
) -> None:
    request, _, _ = await _recorded_run(js, lineage)
    result = await cli("replay", str(request.execution_id), "--from-step", "analysis")
    assert result.code == 2
    assert "never reached step 'analysis'" in result.err
    assert "requested, market_data, indicators" in result.err


async def test_an_aged_out_message_exits_2_naming_the_retention(
    cli: Cli, js: JetStreamContext, lineage: LineageRepository
) -> None:
    request, request_sequence, _ = await _recorded_run(js, lineage)
    await js.delete_msg(subjects.PIPELINE_STREAM, request_sequence)
    result = await cli("replay", str(request.execution_id))
    assert result.code == 2
    assert f"message {request_sequence} is no longer in stream PIPELINE" in result.err
    assert "keeps messages for 7 days (max_age)" in result.err


async def test_overrides_from_the_signal_step_exit_2(cli: Cli, js: JetStreamContext) -> None:
    result = await cli("replay", str(uuid4()), "--from-step", "signal", "--model", "m")
    assert result.code == 2
    assert "replay from 'analysis' or an earlier step" in result.err


async def _window_of_requests(js: JetStreamContext, strategy_id: UUID) -> tuple[datetime, datetime, list[int]]:
    """Requests before, inside and after a window; returns its bounds and the sequences inside."""
    await _publish(js, subjects.EXECUTION_REQUESTED, _request(strategy_id))
    await asyncio.sleep(0.05)
    since = utc_now()
    inside = [await _publish(js, subjects.EXECUTION_REQUESTED, _request(strategy_id)) for _ in range(3)]
    other_strategy = await _publish(js, subjects.EXECUTION_REQUESTED, _request())
    await _publish(js, subjects.MARKET_DATA_FETCHED, _bars(_request(strategy_id)))
    await asyncio.sleep(0.05)
    until = utc_now()
    await asyncio.sleep(0.05)
    await _publish(js, subjects.EXECUTION_REQUESTED, _request(strategy_id))
    return since, until, [*inside, other_strategy]


async def test_a_subject_replay_republishes_exactly_the_messages_in_the_window(
    cli: Cli, js: JetStreamContext, nats_client: NatsClient
) -> None:
    since, until, inside = await _window_of_requests(js, uuid4())
    heard = await collect(nats_client, "debug.replayed")
    result = await cli(
        "replay",
        "--subject",
        subjects.EXECUTION_REQUESTED,
        "--since",
        since.isoformat(),
        "--until",
        until.isoformat(),
        "--to-subject",
        "debug.replayed",
    )
    assert result.code == 0, result.err
    republished = await heard.take(len(inside))
    await consistently(heard.empty, "nothing republished beyond the window", seconds=0.5)
    assert [msg.headers[REPLAYED_FROM_HEADER] for msg in republished if msg.headers] == [
        f"PIPELINE:{sequence}" for sequence in inside
    ]
    for msg in republished:
        event = ExecutionRequested.model_validate_json(msg.data)
        assert event.replay_of is not None and event.trigger is Trigger.REPLAY
    assert "4 read, 4 republished, 0 skipped" in result.err


async def test_a_subject_replay_can_keep_to_one_strategy(
    cli: Cli, js: JetStreamContext, nats_client: NatsClient
) -> None:
    strategy_id = uuid4()
    since, until, _ = await _window_of_requests(js, strategy_id)
    heard = await collect(nats_client, "debug.replayed")
    result = await cli(
        "replay",
        "--subject",
        subjects.EXECUTION_REQUESTED,
        "--since",
        since.isoformat(),
        "--until",
        until.isoformat(),
        "--strategy",
        str(strategy_id),
        "--to-subject",
        "debug.replayed",
    )
    assert result.code == 0, result.err
    republished = await heard.take(3)
    await consistently(heard.empty, "nothing republished of the other strategy", seconds=0.5)
    assert [json.loads(msg.data)["strategy_id"] for msg in republished] == [str(strategy_id)] * 3
    assert "4 read, 3 republished, 1 skipped" in result.err


async def test_a_dry_run_lists_the_window_and_publishes_nothing(cli: Cli, js: JetStreamContext) -> None:
    since, until, inside = await _window_of_requests(js, uuid4())
    before = (await js.stream_info(subjects.PIPELINE_STREAM)).state.messages
    result = await cli(
        "replay",
        "--subject",
        subjects.EXECUTION_REQUESTED,
        "--since",
        since.isoformat(),
        "--until",
        until.isoformat(),
        "--dry-run",
    )
    assert result.code == 0, result.err
    assert [line.split()[0] for line in result.lines] == [f"PIPELINE:{sequence}" for sequence in inside]
    assert all(f"-> {subjects.EXECUTION_REQUESTED}" in line for line in result.lines)
    assert (await js.stream_info(subjects.PIPELINE_STREAM)).state.messages == before


async def test_replaying_a_subject_onto_itself_reads_each_original_once(cli: Cli, js: JetStreamContext) -> None:
    sequences = [await _publish(js, subjects.EXECUTION_REQUESTED, _request()) for _ in range(3)]
    result = await cli("replay", "--subject", subjects.EXECUTION_REQUESTED, "--start-sequence", str(sequences[0]))
    assert result.code == 0, result.err
    assert (await js.stream_info(subjects.PIPELINE_STREAM)).state.messages == 6


async def test_a_window_older_than_the_stream_keeps_exits_2_naming_the_retention(
    cli: Cli, js: JetStreamContext
) -> None:
    since = utc_now()
    first = await _publish(js, subjects.EXECUTION_REQUESTED, _request())
    await _publish(js, subjects.EXECUTION_REQUESTED, _request())
    await js.delete_msg(subjects.PIPELINE_STREAM, first)
    result = await cli("replay", "--subject", subjects.EXECUTION_REQUESTED, "--since", since.isoformat())
    assert result.code == 2
    assert "aged out: stream PIPELINE keeps messages for 7 days (max_age)" in result.err


async def test_a_subject_no_stream_stores_exits_2(cli: Cli, js: JetStreamContext) -> None:
    result = await cli("replay", "--subject", "debug.nowhere", "--since", "1h")
    assert result.code == 2
    assert "no stream stores 'debug.nowhere'" in result.err


async def test_a_replay_to_a_subject_the_operator_may_not_use_exits_1_saying_nats_refused_it(
    cli: Cli, js: JetStreamContext, settings: Settings
) -> None:
    if settings.nats_credentials_file is None:
        pytest.skip("an external test server has no users")
    since, until, _inside = await _window_of_requests(js, uuid4())
    result = await cli(
        "replay",
        "--subject",
        subjects.EXECUTION_REQUESTED,
        "--since",
        since.isoformat(),
        "--until",
        until.isoformat(),
        "--to-subject",
        "elsewhere.replayed",
    )
    assert result.code == 1
    assert "NATS refused user operator" in result.err
    assert "elsewhere.replayed" in result.err
