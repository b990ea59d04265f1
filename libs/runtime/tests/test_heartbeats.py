"""In-progress heartbeats against a real JetStream consumer: they hold a message, for a bounded time."""

from __future__ import annotations

import time

import pytest
from nats.aio.client import Client as NatsClient
from nats.js.api import ConsumerConfig, StreamConfig

from tradelane.runtime.heartbeats import Heartbeat

ACK_WAIT = 1.0


@pytest.fixture
async def stream(nats_client: NatsClient) -> str:
    js = nats_client.jetstream()
    await js.add_stream(StreamConfig(name="HEARTBEATS", subjects=["heartbeats.>"]))
    return "heartbeats.test"


async def test_heartbeats_stop_after_their_limit_and_the_message_is_redelivered(
    nats_client: NatsClient, stream: str
) -> None:
    """A handler that never ends is not held in progress for ever: past the limit, ack_wait redelivers."""
    js = nats_client.jetstream()
    subscription = await js.pull_subscribe(stream, durable="held", config=ConsumerConfig(ack_wait=ACK_WAIT))
    await js.publish(stream, b"{}")
    (held,) = await subscription.fetch(1, timeout=5)
    limit = 3 * ACK_WAIT
    heartbeat = Heartbeat(held, ACK_WAIT / 3, for_at_most_seconds=limit)
    heartbeat.start()
    started = time.monotonic()
    try:
        (again,) = await subscription.fetch(1, timeout=limit + 5 * ACK_WAIT)
    finally:
        await heartbeat.stop()

    assert again.metadata.num_delivered == 2
    assert time.monotonic() - started >= limit  # held in progress until the limit, not for ack_wait alone


async def test_heartbeats_hold_a_message_past_ack_wait_until_stopped(nats_client: NatsClient, stream: str) -> None:
    """A handler that takes several ack_waits keeps its message; once stopped, nothing more is sent."""
    js = nats_client.jetstream()
    subscription = await js.pull_subscribe(stream, durable="kept", config=ConsumerConfig(ack_wait=ACK_WAIT))
    await js.publish(stream, b"{}")
    (held,) = await subscription.fetch(1, timeout=5)
    heartbeat = Heartbeat(held, ACK_WAIT / 3, for_at_most_seconds=60)
    heartbeat.start()
    try:
        with pytest.raises(TimeoutError):
            await subscription.fetch(1, timeout=3 * ACK_WAIT)  # not redelivered while it beats
    finally:
        await heartbeat.stop()
    await held.ack_sync()
    assert held.metadata.num_delivered == 1
