"""``tradelane status``: which service processes answer on the bus, stream depths, consumer lag, DLQ size."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import Any

from tradelane.cli.context import Connections, Console
from tradelane.cli.format import duration, size, table
from tradelane.contracts import subjects
from tradelane.runtime.bus_status import HEALTH_WINDOW_SECONDS, expected_services, gather_health, stream_states


async def status(connections: Connections, console: Console, *, json_output: bool) -> int:
    client = await connections.nats()
    reports, streams = await asyncio.gather(gather_health(client), stream_states(client))
    dead_letters = next((s.messages for s in streams if s.stream == subjects.DEAD_LETTER_STREAM), 0)
    missing = sorted(set(expected_services()) - {report.service for report in reports})
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
