"""What the bus says about the system: which service processes answer, stream depths, consumer lag.

Read-only, over an ordinary connection: one health request that every process answers
(gathered for a short window, since replicas answer independently), and JetStream's stream and
consumer info. ``tradelane status`` and the gateway's system page both ask through here.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Final

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js.errors import NotFoundError
from pydantic import ValidationError

from tradelane.contracts import subjects
from tradelane.contracts.advisories import ADVISORY_STREAM
from tradelane.contracts.health import HealthReport
from tradelane.runtime.flow import FLOW

HEALTH_WINDOW_SECONDS: Final = 0.5
STREAMS: Final = (subjects.PIPELINE_STREAM, subjects.TRADING_STREAM, subjects.DEAD_LETTER_STREAM, ADVISORY_STREAM)


async def gather_health(client: NatsClient, window: float = HEALTH_WINDOW_SECONDS) -> list[HealthReport]:
    """Every HealthReport that arrives within ``window`` seconds of one request to all processes."""
    inbox = client.new_inbox()
    replies: list[HealthReport] = []

    async def collect(msg: Msg) -> None:
        with contextlib.suppress(ValidationError):
            replies.append(HealthReport.model_validate_json(msg.data))

    subscription = await client.subscribe(inbox, cb=collect)
    try:
        await client.publish(subjects.HEALTH, b"", reply=inbox)
        await client.flush()
        await asyncio.sleep(window)
    finally:
        await subscription.unsubscribe()
    return sorted(replies, key=lambda report: (report.service, report.instance))


@dataclass(frozen=True)
class ConsumerState:
    stream: str
    consumer: str
    pending: int
    """Messages not yet delivered: the lag."""
    ack_pending: int
    """Delivered, not yet acknowledged: in flight or about to be redelivered."""
    redelivered: int


@dataclass(frozen=True)
class StreamState:
    stream: str
    messages: int
    bytes: int
    consumers: list[ConsumerState]


async def stream_states(client: NatsClient) -> list[StreamState]:
    """Depth of each tradelane stream and the lag of each of its durable consumers."""
    js = client.jetstream()
    states = []
    for stream in STREAMS:
        try:
            info = await js.stream_info(stream)
        except NotFoundError:
            continue
        consumers = [
            ConsumerState(
                stream=stream,
                consumer=consumer.name,
                pending=consumer.num_pending or 0,
                ack_pending=consumer.num_ack_pending or 0,
                redelivered=consumer.num_redelivered or 0,
            )
            for consumer in await js.consumers_info(stream)
            if consumer.config.durable_name
        ]
        states.append(
            StreamState(stream, info.state.messages, info.state.bytes, sorted(consumers, key=lambda c: c.consumer))
        )
    return states


def expected_services() -> tuple[str, ...]:
    """The services that answer health requests on the bus, by the flow table (the gateway answers HTTP probes)."""
    return tuple(name for name, role in FLOW.items() if subjects.HEALTH in role.answers)
