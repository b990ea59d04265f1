"""A service's log lines reach ``logs.<service>`` redacted, and logging never waits for the bus (real NATS)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import pytest
import structlog
from nats.aio.client import Client as NatsClient
from nats.aio.subscription import Subscription

from libs.runtime.tests.test_logging import API_KEY, DSN, PASSWORD, restored_logging
from tests.support.waiting import consistently, eventually
from tradelane.cli.embedded import EmbeddedNats
from tradelane.contracts import subjects
from tradelane.runtime.background import BackgroundTasks
from tradelane.runtime.bus_credentials import credentials_for
from tradelane.runtime.bus_flush import flush_queued
from tradelane.runtime.log_stream import LogStream, stream_logs
from tradelane.runtime.logging import configure_logging
from tradelane.runtime.redaction import MASK, register_secret
from tradelane.runtime.service import create_broker
from tradelane.runtime.settings import Settings

__all__ = ["restored_logging"]  # test_logging's fixture that puts the process's logging back, found by name

SERVICE = "signals"
RECEIVE_SECONDS = 5.0


@pytest.fixture(autouse=True)
def json_on_stderr(restored_logging: None) -> None:
    register_secret(API_KEY)
    configure_logging("WARNING", "json", stream_level="INFO")


@pytest.fixture
async def as_the_service(nats_url: str, nats_credentials_file: Path | None) -> AsyncIterator[NatsClient]:
    """A connection as the service's own NATS identity, so the server's permissions are part of the test."""
    credentials = credentials_for(Settings(nats_credentials_file=nats_credentials_file), SERVICE)
    client = await nats.connect(nats_url, **(credentials.connect_options() if credentials else {}))
    yield client
    await client.close()


@pytest.fixture
async def background() -> AsyncIterator[BackgroundTasks]:
    tasks = BackgroundTasks()
    yield tasks
    await tasks.stop()


async def _listening(nats_client: NatsClient) -> Subscription:
    subscription = await nats_client.subscribe(subjects.logs_of(SERVICE))
    await flush_queued(nats_client)
    return subscription


async def _next_line(subscription: Subscription, stream: LogStream, publisher: NatsClient) -> dict[str, object]:
    """The next line on the subscription; when none comes, a failure that says where the lines went."""
    try:
        message = await subscription.next_msg(timeout=RECEIVE_SECONDS)
    except nats.errors.TimeoutError:
        pytest.fail(
            f"no line on {stream.subject} within {RECEIVE_SECONDS} s: the stream published {stream.published} and "
            f"dropped {stream.dropped}; the publisher is {'' if publisher.is_connected else 'not '}connected, "
            f"the listener {'' if subscription._conn.is_connected else 'not '}connected"
        )
    line: dict[str, object] = json.loads(message.data)
    return line


async def test_a_logged_line_arrives_on_the_services_subject_redacted_and_stderr_keeps_its_level(
    as_the_service: NatsClient,
    nats_client: NatsClient,
    background: BackgroundTasks,
    capsys: pytest.CaptureFixture[str],
) -> None:
    subscription = await _listening(nats_client)
    stream = stream_logs(SERVICE, as_the_service, "INFO", background)
    assert stream is not None
    log = structlog.get_logger("tradelane.test")
    log.debug("below_the_threshold")
    logging.getLogger("nats.aio.client").error("nats-py's own line")
    log.info("connecting", dsn=DSN, key=API_KEY, execution_id="e-1")

    # the first to arrive: the two before it were left out
    line = await _next_line(subscription, stream, as_the_service)
    assert (line["event"], line["level"], line["execution_id"]) == ("connecting", "info", "e-1")
    assert (line["dsn"], line["key"]) == (f"postgresql://trader:{MASK}@db.internal:5432/tradelane", MASK)
    assert PASSWORD not in json.dumps(line) and API_KEY not in json.dumps(line)
    assert "connecting" not in capsys.readouterr().err  # stderr logs at WARNING, the stream at INFO
    stream.detach()
    log.info("after_detach")
    log.warning("stopped_too")
    with pytest.raises(nats.errors.TimeoutError):
        await subscription.next_msg(timeout=0.3)
    assert stream.dropped == 0


async def test_a_full_queue_drops_and_counts_the_lines_instead_of_waiting(
    as_the_service: NatsClient, nats_client: NatsClient, background: BackgroundTasks
) -> None:
    subscription = await _listening(nats_client)
    stream = LogStream(SERVICE, as_the_service, logging.INFO, capacity=2)
    stream.attach(background)
    log = structlog.get_logger("tradelane.test")
    for number in range(5):  # no await in between: the publisher gets no turn, the queue fills
        log.info("burst", number=number)
    assert stream.dropped == 3
    assert [(await _next_line(subscription, stream, as_the_service))["number"] for _ in range(2)] == [0, 1]
    stream.detach()


async def test_logging_while_nats_is_down_neither_blocks_nor_fills_the_reconnect_buffer(
    tmp_path: Path, background: BackgroundTasks
) -> None:
    server = EmbeddedNats(tmp_path / "nats")
    client = await nats.connect(await server.start(), max_reconnect_attempts=-1, reconnect_time_wait=0.2)
    stream = LogStream(SERVICE, client, logging.INFO)
    stream.attach(background)
    try:
        server.stop()
        await eventually(lambda: not client.is_connected, "the client to notice that NATS is gone", timeout=10)
        log = structlog.get_logger("tradelane.test")
        published, dropped = stream.published, stream.dropped  # the server's stop is logged too
        started = time.perf_counter()
        for number in range(200):
            log.info("while_down", number=number)
        assert time.perf_counter() - started < 1.0  # rendering 200 lines, no waiting on the bus
        await eventually(lambda: stream.dropped == dropped + 200, "every line logged while NATS is down to be dropped")
        assert stream.published == published
        assert client._pending_data_size == 0  # nothing parked in nats-py's reconnect buffer
    finally:
        stream.detach()
        await asyncio.wait_for(client.close(), 5)


@pytest.mark.skipif(bool(os.environ.get("TRADELANE_TEST_NATS_URL")), reason="an external test server has no users")
async def test_the_servers_refusal_of_a_log_line_is_not_streamed_again(
    nats_url: str, nats_credentials_file: Path | None, background: BackgroundTasks
) -> None:
    """A stream on a subject its identity may not use would otherwise publish each refusal FastStream logs, forever."""
    broker = create_broker(Settings(nats_url=nats_url, nats_credentials_file=nats_credentials_file), SERVICE)
    await broker.connect()
    try:
        stream = LogStream("broker", broker.connection, logging.INFO)  # signals may not publish logs.broker
        stream.attach(background)
        structlog.get_logger("tradelane.test").info("refused_line")
        await consistently(lambda: stream.published <= 1, "the refused line to stay one publish", seconds=1)
        stream.detach()
    finally:
        await broker.stop()
