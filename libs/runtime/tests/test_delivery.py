"""The delivery rules against a real NATS server: publish, retry, give up, de-duplicate."""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import nats
import pytest
import structlog
from nats.aio.client import Client as NatsClient

from tests.support.messages import collect
from tests.support.waiting import consistently, eventually
from tradelane.cli.embedded import EmbeddedNats
from tradelane.contracts import subjects
from tradelane.contracts.envelope import BacktestTag
from tradelane.contracts.events import BarsFetched, ExecutionRequested, IndicatorsComputed, StepFailed, Trigger
from tradelane.contracts.market import Bar, ResolvedSymbol
from tradelane.contracts.payloads import BarsWindow
from tradelane.contracts.strategy import AssetType, BarSize, StrategyDefinition, SymbolRef
from tradelane.contracts.subjects import Step
from tradelane.runtime.bus import (
    PUBLISH_WINDOW,
    PUBLISH_WINDOWS_IN_FLIGHT,
    RECOMMENDED_MAX_PAYLOAD,
    dedup_headers,
    encode_event,
)
from tradelane.runtime.decisions import DELIVERIES_HEADER, ERROR_HEADER, ERROR_KIND_HEADER
from tradelane.runtime.errors import PermanentStepError, TransientStepError
from tradelane.runtime.service import Service
from tradelane.runtime.settings import Settings
from tradelane.runtime.streams import STEP_CONSUMERS, provision

Handler = Callable[[ExecutionRequested], Awaitable[BarsFetched]]
StepRunner = Callable[..., Awaitable[Service]]
"""``run_step(handler, settings=nats_settings, workers=1)``: the handler as the market-data step, started."""


def _request() -> ExecutionRequested:
    return ExecutionRequested(
        execution_id=uuid4(),
        strategy_id=uuid4(),
        strategy=StrategyDefinition(name="s", symbol=SymbolRef(symbol="AAPL")),
        trigger=Trigger.MANUAL,
        as_of=datetime(2026, 11, 20, tzinfo=UTC),
    )


def _bars_for(msg: ExecutionRequested, chunks: int = 1) -> BarsFetched:
    """Bars by reference to ``chunks`` chunks (67 bytes of JSON each; nothing is stored: no test here reads them)."""
    names = tuple(hashlib.sha256(str(index).encode()).hexdigest() for index in range(chunks))
    window = BarsWindow(
        conid=1,
        bar_size=BarSize.MIN_1,
        count=chunks,
        first_bar_time=msg.as_of,
        last_bar=Bar(time=msg.as_of, open=1, high=2, low=0.5, close=1.5, volume=10),
        sha256=hashlib.sha256("".join(names).encode()).hexdigest(),
        chunks=names,
    )
    return msg.follow(
        BarsFetched,
        strategy=msg.strategy,
        symbol=ResolvedSymbol(conid=1, symbol="AAPL", exchange="NASDAQ", currency="USD", asset_type=AssetType.STOCK),
        bars=window,
        provider="test",
    )


@pytest.fixture
def nats_settings(nats_url: str, nats_credentials_file: Path | None) -> Settings:
    return Settings(
        nats_url=nats_url,
        nats_credentials_file=nats_credentials_file,
        retry_backoff_seconds=0.1,
        retry_backoff_max_seconds=0.3,
        max_deliver=4,
        health_port=0,
    )


@pytest.fixture
async def run_step(nats_settings: Settings) -> AsyncIterator[StepRunner]:
    services: list[Service] = []

    async def start(handler: Handler, settings: Settings = nats_settings, workers: int = 1) -> Service:
        service = Service("market-data", settings)
        service.step(Step.MARKET_DATA, workers=workers)(handler)
        await service.start()
        services.append(service)
        return service

    yield start
    for service in services:
        await service.close()


async def _publish(client: NatsClient, request: ExecutionRequested) -> None:
    js = client.jetstream()
    await js.publish(
        subjects.EXECUTION_REQUESTED,
        request.model_dump_json().encode(),
        headers=dedup_headers(request),
        stream=subjects.PIPELINE_STREAM,
    )


async def test_a_handled_message_publishes_the_next_event(run_step: StepRunner, nats_client: NatsClient) -> None:
    async def handler(msg: ExecutionRequested) -> BarsFetched:
        return _bars_for(msg)

    await run_step(handler)
    fetched = await collect(nats_client, subjects.MARKET_DATA_FETCHED)
    request = _request()
    await _publish(nats_client, request)
    event = BarsFetched.model_validate_json((await fetched.next(5)).data)
    assert event.execution_id == request.execution_id
    assert event.causation_id == request.message_id
    assert event.handled_in_ms is not None


async def test_lines_logged_while_a_message_is_handled_name_it(run_step: StepRunner, nats_client: NatsClient) -> None:
    bound: list[dict[str, Any]] = []

    async def handler(msg: ExecutionRequested) -> BarsFetched:
        bound.append(structlog.contextvars.get_contextvars())
        return _bars_for(msg)

    await run_step(handler)
    request = _request()
    await _publish(nats_client, request)
    await eventually(lambda: bound, "the message handled", timeout=5)
    assert bound == [
        {
            "subject": subjects.EXECUTION_REQUESTED,
            "message_id": str(request.message_id),
            "execution_id": str(request.execution_id),
        }
    ]


async def test_invalid_input_fails_the_step_once_and_is_dead_lettered(
    run_step: StepRunner, nats_client: NatsClient
) -> None:
    calls = 0

    async def handler(msg: ExecutionRequested) -> BarsFetched:
        nonlocal calls
        calls += 1
        return _bars_for(msg)

    await run_step(handler)
    failures = await collect(nats_client, subjects.STEP_FAILED)
    dead = await collect(nats_client, subjects.dead_letter(subjects.EXECUTION_REQUESTED))
    body = _request().model_dump(mode="json")
    body["strategy"]["bar_size"] = "2 days"
    await nats_client.jetstream().publish(subjects.EXECUTION_REQUESTED, json.dumps(body).encode())

    failure = StepFailed.model_validate_json((await failures.next(5)).data)
    assert failure.kind == "invalid_input"
    assert "bar_size" in failure.error
    assert str(failure.execution_id) == body["execution_id"]
    letter = await dead.next(5)
    assert json.loads(letter.data) == body
    assert letter.headers is not None
    assert letter.headers[ERROR_KIND_HEADER] == "invalid_input"
    assert "bar_size" in letter.headers[ERROR_HEADER]
    await consistently(lambda: calls == 0 and failures.empty(), "no handler call and no second failure", seconds=0.5)


async def test_a_permanent_error_is_not_retried(run_step: StepRunner, nats_client: NatsClient) -> None:
    calls = 0

    async def handler(msg: ExecutionRequested) -> BarsFetched:
        nonlocal calls
        calls += 1
        raise PermanentStepError("no such symbol ZZZZ on SMART in USD")

    await run_step(handler)
    failures = await collect(nats_client, subjects.STEP_FAILED)
    await _publish(nats_client, _request())
    failure = StepFailed.model_validate_json((await failures.next(5)).data)
    assert failure.kind == "permanent"
    assert failure.error == "no such symbol ZZZZ on SMART in USD"
    await consistently(lambda: calls == 1, "no second call for a permanent error", seconds=0.5)


async def test_the_failure_of_a_backtest_decision_names_its_backtest(
    run_step: StepRunner, nats_client: NatsClient
) -> None:
    """A failed step of a backtest's execution carries its BacktestTag, so the backtester can count it."""

    async def handler(msg: ExecutionRequested) -> BarsFetched:
        raise PermanentStepError("no bars")

    await run_step(handler)
    failures = await collect(nats_client, subjects.STEP_FAILED)
    tag = BacktestTag(backtest_id=uuid4(), variant="base", seq=3, decided_at=datetime(2026, 11, 20, tzinfo=UTC))
    await _publish(nats_client, _request().model_copy(update={"backtest": tag, "trigger": Trigger.BACKTEST}))
    failure = StepFailed.model_validate_json((await failures.next(5)).data)
    assert failure.backtest == tag


async def test_a_transient_error_is_retried_until_it_succeeds(run_step: StepRunner, nats_client: NatsClient) -> None:
    calls = 0

    async def handler(msg: ExecutionRequested) -> BarsFetched:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise TransientStepError("provider reconnecting")
        return _bars_for(msg)

    await run_step(handler)
    fetched = await collect(nats_client, subjects.MARKET_DATA_FETCHED)
    await _publish(nats_client, _request())
    await fetched.next(5)
    assert calls == 3


async def test_an_outage_longer_than_max_deliver_is_retried_and_never_dead_lettered(
    run_step: StepRunner, nats_client: NatsClient, nats_settings: Settings
) -> None:
    """PostgreSQL refusing connections for twice max_deliver deliveries: the message waits, then goes through."""
    outage = 2 * nats_settings.max_deliver
    calls = 0

    async def handler(msg: ExecutionRequested) -> BarsFetched:
        nonlocal calls
        calls += 1
        if calls <= outage:
            raise ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)")
        return _bars_for(msg)

    await run_step(handler)
    failures = await collect(nats_client, subjects.STEP_FAILED)
    dead = await collect(nats_client, subjects.DEAD_LETTER_ALL)
    fetched = await collect(nats_client, subjects.MARKET_DATA_FETCHED)
    await _publish(nats_client, _request())
    await fetched.next(15)
    assert calls == outage + 1
    await consistently(
        lambda: failures.empty() and dead.empty(), "no failure and no dead letter after the success", seconds=0.3
    )


async def test_a_spent_retry_horizon_dead_letters_the_message_as_retries_exhausted(
    run_step: StepRunner, nats_client: NatsClient, nats_settings: Settings
) -> None:
    horizon = 1.5
    calls = 0

    async def handler(msg: ExecutionRequested) -> BarsFetched:
        nonlocal calls
        calls += 1
        raise TransientStepError("provider down")

    await run_step(handler, nats_settings.model_copy(update={"retry_horizon_seconds": horizon}))
    failures = await collect(nats_client, subjects.STEP_FAILED)
    dead = await collect(nats_client, subjects.dead_letter(subjects.EXECUTION_REQUESTED))
    published = time.monotonic()
    await _publish(nats_client, _request())
    failure = StepFailed.model_validate_json((await failures.next(10)).data)
    assert time.monotonic() - published >= horizon
    assert failure.kind == "retries_exhausted"
    assert failure.error == "TransientStepError: provider down"
    assert failure.deliveries == calls
    assert calls > nats_settings.max_deliver
    letter = await dead.next(5)
    assert letter.headers is not None
    assert letter.headers[ERROR_KIND_HEADER] == "retries_exhausted"
    assert letter.headers[DELIVERIES_HEADER] == str(calls)


async def test_a_bug_is_given_up_after_max_deliver_deliveries(
    run_step: StepRunner, nats_client: NatsClient, nats_settings: Settings
) -> None:
    calls = 0

    async def handler(msg: ExecutionRequested) -> BarsFetched:
        nonlocal calls
        calls += 1
        raise KeyError("close")

    await run_step(handler)
    failures = await collect(nats_client, subjects.STEP_FAILED)
    await _publish(nats_client, _request())
    failure = StepFailed.model_validate_json((await failures.next(10)).data)
    assert (failure.kind, failure.deliveries) == ("retries_exhausted", nats_settings.max_deliver)
    assert calls == nats_settings.max_deliver


async def test_a_json_error_of_the_handlers_own_is_a_bug_not_invalid_input(
    run_step: StepRunner, nats_client: NatsClient, nats_settings: Settings
) -> None:
    """A valid message whose handler meets bad JSON elsewhere (an answer it awaited) is retried, not rejected."""
    calls = 0

    async def handler(msg: ExecutionRequested) -> BarsFetched:
        nonlocal calls
        calls += 1
        if calls == 1:
            json.loads(b"")
        return _bars_for(msg)

    await run_step(handler)
    failures = await collect(nats_client, subjects.STEP_FAILED)
    fetched = await collect(nats_client, subjects.MARKET_DATA_FETCHED)
    await _publish(nats_client, _request())
    await fetched.next(5)
    assert calls == 2
    assert failures.empty()


async def test_a_handler_running_three_ack_waits_is_kept_in_progress_not_redelivered(
    run_step: StepRunner, nats_client: NatsClient, nats_settings: Settings
) -> None:
    """Two replicas and a handler three times slower than ack_wait: the other replica never gets the message."""
    settings = nats_settings.model_copy(update={"ack_wait_seconds": 1.0})
    js = nats_client.jetstream()
    await provision(js, settings)  # the consumer provisioned with the default ack wait is updated in place
    spec = STEP_CONSUMERS[Step.MARKET_DATA]
    config = (await js.consumer_info(spec.stream, spec.durable)).config
    assert (config.ack_wait, config.max_deliver) == (1.0, settings.retry_rules.consumer_max_deliver())
    calls = 0

    async def handler(msg: ExecutionRequested) -> BarsFetched:
        nonlocal calls
        calls += 1
        await asyncio.sleep(3 * settings.ack_wait_seconds)
        return _bars_for(msg)

    await run_step(handler, settings)
    await run_step(handler, settings)
    fetched = await collect(nats_client, subjects.MARKET_DATA_FETCHED)
    await _publish(nats_client, _request())
    await fetched.next(10)
    await consistently(
        lambda: calls == 1 and fetched.empty(),
        "no redelivery to the other replica",
        seconds=1.5 * settings.ack_wait_seconds,
    )
    info = await js.consumer_info(spec.stream, spec.durable)
    assert (info.num_redelivered, info.num_ack_pending) == (0, 0)


async def test_a_step_with_two_workers_handles_two_messages_at_once(
    run_step: StepRunner, nats_client: NatsClient
) -> None:
    """Each handler waits for the other to start: one worker at a time would never see both finish."""
    both_started = asyncio.Event()
    started = 0

    async def handler(msg: ExecutionRequested) -> BarsFetched:
        nonlocal started
        started += 1
        if started == 2:
            both_started.set()
        await asyncio.wait_for(both_started.wait(), 5)
        return _bars_for(msg)

    await run_step(handler, workers=2)
    fetched = await collect(nats_client, subjects.MARKET_DATA_FETCHED)
    await _publish(nats_client, _request())
    await _publish(nats_client, _request())
    await fetched.next(5)
    await fetched.next(5)
    spec = STEP_CONSUMERS[Step.MARKET_DATA]

    async def acked() -> bool:
        info = await nats_client.jetstream().consumer_info(spec.stream, spec.durable)
        return (info.num_ack_pending, info.num_redelivered) == (0, 0)

    await eventually(acked, "both messages acked, neither redelivered")
    assert started == 2


async def test_a_handler_that_hangs_is_cancelled_and_its_message_retried(
    run_step: StepRunner, nats_client: NatsClient, nats_settings: Settings
) -> None:
    """Past handler_timeout_seconds the handler is cancelled and the message nak'ed; the next delivery succeeds."""
    settings = nats_settings.model_copy(update={"handler_timeout_seconds": 0.5})
    calls = 0
    cancelled = asyncio.Event()

    async def handler(msg: ExecutionRequested) -> BarsFetched:
        nonlocal calls
        calls += 1
        if calls == 1:
            try:
                await asyncio.Event().wait()  # hangs: no dependency will ever answer
            except asyncio.CancelledError:
                cancelled.set()
                raise
        return _bars_for(msg)

    await run_step(handler, settings)
    fetched = await collect(nats_client, subjects.MARKET_DATA_FETCHED)
    failures = await collect(nats_client, subjects.STEP_FAILED)
    await _publish(nats_client, _request())

    await fetched.next(10)
    assert cancelled.is_set()
    assert calls == 2
    assert failures.empty()


async def test_a_handler_that_hangs_on_every_delivery_is_dead_lettered_after_max_deliver(
    run_step: StepRunner, nats_client: NatsClient, nats_settings: Settings
) -> None:
    settings = nats_settings.model_copy(update={"handler_timeout_seconds": 0.5})
    calls = 0

    async def handler(msg: ExecutionRequested) -> BarsFetched:
        nonlocal calls
        calls += 1
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    await run_step(handler, settings)
    dead = await collect(nats_client, subjects.dead_letter(subjects.EXECUTION_REQUESTED))
    await _publish(nats_client, _request())

    letter = await dead.next(20)
    assert letter.headers is not None
    assert letter.headers[ERROR_KIND_HEADER] == "retries_exhausted"
    assert "handler_timeout_seconds" in letter.headers[ERROR_HEADER]
    assert letter.headers[DELIVERIES_HEADER] == str(settings.max_deliver)
    assert calls == settings.max_deliver


async def test_a_message_held_by_a_killed_consumer_is_redelivered_within_15_seconds(
    run_step: StepRunner, nats_client: NatsClient, nats_settings: Settings, nats_url: str, nats_options: dict[str, Any]
) -> None:
    """A process fetches a message and dies before acking it: with the default ack wait it is back in 15 s."""
    assert nats_settings.ack_wait_seconds == Settings().ack_wait_seconds
    await _publish(nats_client, _request())
    killed = await nats.connect(nats_url, **nats_options)
    spec = STEP_CONSUMERS[Step.MARKET_DATA]
    held = await (await killed.jetstream().pull_subscribe_bind(spec.durable, spec.stream)).fetch(1, timeout=5)
    assert len(held) == 1
    await killed.close()
    died = time.monotonic()

    async def handler(msg: ExecutionRequested) -> BarsFetched:
        return _bars_for(msg)

    fetched = await collect(nats_client, subjects.MARKET_DATA_FETCHED)
    await run_step(handler)
    await fetched.next(15)
    assert time.monotonic() - died < 15


async def test_the_same_message_published_twice_is_stored_once(run_step: StepRunner, nats_client: NatsClient) -> None:
    request = _request()
    await _publish(nats_client, request)
    await _publish(nats_client, request)
    info = await nats_client.jetstream().stream_info(subjects.PIPELINE_STREAM)
    assert info.state.messages == 1


async def test_a_burst_goes_out_in_batches_in_order_and_a_repeat_is_stored_once(
    nats_settings: Settings, nats_client: NatsClient
) -> None:
    """More windows than are sent at once, as the scheduler sends a minute's runs; then a window that
    repeats some of them, as a second scheduler replica or a retry sends it: only the new one is stored."""
    service = Service("scheduler", nats_settings)
    await service.start()
    events = [encode_event(_request()) for _ in range(PUBLISH_WINDOW * PUBLISH_WINDOWS_IN_FLIGHT + 44)]
    late = encode_event(_request())
    try:
        assert await service.bus.publish_many(events) == [None] * len(events)
        assert await service.bus.publish_many([*events[-10:], late]) == [None] * 11
        await service.bus.publish(_request())
    finally:
        await service.close()
    js = nats_client.jetstream()
    assert (await js.stream_info(subjects.PIPELINE_STREAM)).state.messages == len(events) + 2
    first, last, stored_late, published_alone = [
        await js.get_msg(subjects.PIPELINE_STREAM, seq) for seq in (1, len(events), len(events) + 1, len(events) + 2)
    ]
    assert (first.data, last.data, stored_late.data) == (events[0].data, events[-1].data, late.data)
    assert first.headers is not None and published_alone.headers is not None
    assert published_alone.headers.keys() <= first.headers.keys()  # every header a single publish sends


@pytest.fixture(autouse=True)
async def _streams(nats_settings: Settings, nats_client: NatsClient) -> None:
    await provision(nats_client.jetstream(), nats_settings)


async def test_a_body_that_is_not_json_is_dead_lettered_not_retried(
    run_step: StepRunner, nats_client: NatsClient
) -> None:
    calls = 0

    async def handler(msg: ExecutionRequested) -> BarsFetched:
        nonlocal calls
        calls += 1
        return _bars_for(msg)

    await run_step(handler)
    dead = await collect(nats_client, subjects.dead_letter(subjects.EXECUTION_REQUESTED))
    await nats_client.jetstream().publish(subjects.EXECUTION_REQUESTED, b"\x00not json")
    letter = await dead.next(5)
    assert letter.data == b"\x00not json"
    assert letter.headers is not None
    assert letter.headers[ERROR_KIND_HEADER] == "invalid_input"
    await consistently(lambda: calls == 0 and dead.empty(), "no handler call and no second dead letter", seconds=0.5)


async def test_a_number_that_is_not_finite_in_a_message_is_invalid_input_and_dead_lettered(
    nats_settings: Settings, nats_client: NatsClient
) -> None:
    """JSON from another producer may hold an Infinity literal: the contract refuses it, naming the field."""
    calls = 0

    async def on_bars(msg: BarsFetched) -> IndicatorsComputed:
        nonlocal calls
        calls += 1
        raise AssertionError("a bar with an infinite close reached the handler")

    service = Service("indicators", nats_settings)
    service.step(Step.INDICATORS)(on_bars)
    await service.start()
    try:
        dead = await collect(nats_client, subjects.dead_letter(subjects.MARKET_DATA_FETCHED))
        body = _bars_for(_request()).model_dump(mode="json")
        body["bars"]["last_bar"]["close"] = math.inf
        await nats_client.jetstream().publish(subjects.MARKET_DATA_FETCHED, json.dumps(body).encode())

        letter = await dead.next(5)
        assert letter.headers is not None
        assert letter.headers[ERROR_KIND_HEADER] == "invalid_input"
        assert "bars.last_bar.close" in letter.headers[ERROR_HEADER]
        assert "finite number" in letter.headers[ERROR_HEADER]
        assert calls == 0
    finally:
        await service.close()


async def test_a_dead_letter_that_fails_is_not_dead_lettered_again(
    nats_settings: Settings, nats_client: NatsClient
) -> None:
    """Copying a failed dead letter to deadletter.deadletter... would loop for ever."""
    from tradelane.runtime.streams import LINEAGE_CONSUMERS

    service = Service("lineage", nats_settings, report_failures=False)
    spec = next(spec for spec in LINEAGE_CONSUMERS if spec.stream == subjects.DEAD_LETTER_STREAM)

    @service.subscriber(spec)
    async def refuse(body: dict[str, object]) -> None:
        raise PermanentStepError("cannot record this dead letter")

    await service.start()
    try:
        again = await collect(nats_client, subjects.dead_letter(subjects.dead_letter(subjects.EXECUTION_REQUESTED)))
        await nats_client.jetstream().publish(subjects.dead_letter(subjects.EXECUTION_REQUESTED), b'{"a": 1}')
        await eventually(lambda: service.stats.failed, "the dead letter to fail", timeout=2)
        await consistently(again.empty, "no dead letter of the dead letter", seconds=0.3)
    finally:
        await service.close()
    assert service.stats.failed == 1
    assert again.empty()


async def test_the_embedded_server_takes_a_two_megabyte_event(run_step: StepRunner, nats_client: NatsClient) -> None:
    assert nats_client.max_payload == RECOMMENDED_MAX_PAYLOAD

    async def handler(msg: ExecutionRequested) -> BarsFetched:
        return _bars_for(msg, chunks=32_000)

    await run_step(handler)
    fetched = await collect(nats_client, subjects.MARKET_DATA_FETCHED)
    await _publish(nats_client, _request())
    message = await fetched.next(10)
    assert len(message.data) > 2 * 1024 * 1024
    assert len(BarsFetched.model_validate_json(message.data).bars.chunks) == 32_000


@pytest.fixture
async def small_nats_url(tmp_path: Path) -> AsyncIterator[str]:
    """A NATS server that accepts messages of up to 512 KiB only (set up before, stopped after the step)."""
    server = EmbeddedNats(tmp_path / "small-nats", max_payload=512 * 1024)
    try:
        yield await server.start()
    finally:
        server.stop()


async def test_an_event_larger_than_the_servers_max_payload_fails_the_step_saying_so(
    small_nats_url: str, run_step: StepRunner, nats_settings: Settings
) -> None:
    calls = 0

    async def handler(msg: ExecutionRequested) -> BarsFetched:
        nonlocal calls
        calls += 1
        return _bars_for(msg, chunks=18_500)

    await run_step(handler, nats_settings.model_copy(update={"nats_url": small_nats_url}))
    client = await nats.connect(small_nats_url)
    try:
        failures = await collect(client, subjects.STEP_FAILED)
        dead = await collect(client, subjects.dead_letter(subjects.EXECUTION_REQUESTED))
        await _publish(client, _request())
        failure = StepFailed.model_validate_json((await failures.next(5)).data)
        assert failure.kind == "permanent"
        assert "the BarsFetched message is 1.2 MB, more than the 0.5 MB the NATS server accepts" in failure.error
        await dead.next(5)
        assert calls == 1
    finally:
        await client.close()
