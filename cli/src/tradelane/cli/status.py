"""``tradelane status``: which service processes answer on the bus, stream depths, consumer lag, DLQ size."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import asdict, dataclass
from typing import Any

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js.errors import NotFoundError
from pydantic import ValidationError

from tradelane.cli.context import Connections, Console
from tradelane.cli.format import duration, size, table
from tradelane.cli.services import SERVICES
from tradelane.contracts import subjects
from tradelane.contracts.advisories import ADVISORY_STREAM
from tradelane.contracts.health import HealthReport

HEALTH_WINDOW_SECONDS = 0.5
STREAMS = (subjects.PIPELINE_STREAM, subjects.TRADING_STREAM, subjects.DEAD_LETTER_STREAM, ADVISORY_STREAM)
ON_THE_BUS = tuple(name.replace("_", "-") for name in SERVICES if name != "gateway")
"""Services expected to answer health requests (the gateway serves HTTP probes instead)."""


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


async def status(connections: Connections, console: Console, *, json_output: bool) -> int:
    client = await connections.nats()
    reports, streams = await asyncio.gather(gather_health(client), stream_states(client))
    dead_letters = next((s.messages for s in streams if s.stream == subjects.DEAD_LETTER_STREAM), 0)
    missing = sorted(set(ON_THE_BUS) - {report.service for report in reports})
    if json_output:
        body: dict[str, Any] = {
            "services": [report.model_dump(mode="json") for report in reports],
            "not_answering": missing,
            "streams": [asdict(state) for state in streams],
            "dead_letters": dead_letters,
        }
        console.json(body)
        return 0
    console.print(f"services answering on the bus within {HEALTH_WINDOW_SECONDS:g} s: {len(reports)}")
    if reports:
        rows = [
            [r.service, r.instance, r.version, duration(r.uptime_seconds), r.ready, r.in_flight, r.handled, r.failed]
            for r in reports
        ]
        console.print(table(["SERVICE", "INSTANCE", "VERSION", "UP", "READY", "IN FLIGHT", "HANDLED", "FAILED"], rows))
    if missing:
        console.print(f"not answering: {', '.join(missing)}")
    console.print()
    console.print(table(["STREAM", "MESSAGES", "SIZE"], [[s.stream, s.messages, size(s.bytes)] for s in streams]))
    console.print()
    rows = [[c.consumer, c.stream, c.pending, c.ack_pending, c.redelivered] for s in streams for c in s.consumers]
    console.print(table(["CONSUMER", "STREAM", "LAG", "UNACKED", "REDELIVERED"], rows))
    console.print()
    console.print(f"dead letters: {dead_letters}" + ("  (tradelane dlq list)" if dead_letters else ""))
    return 0
