"""``tradelane tail``: live messages, one line each (or JSON), decoded through the contracts.

It listens on core NATS, so it sees every message as it is published (JetStream-stored or
not) and leaves no consumer behind; it shows what happens from now on, not history (for that,
``tradelane replay --subject ... --dry-run`` reads a window of a stream).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from uuid import UUID

from nats.aio.msg import Msg

from tradelane.cli.context import Connections, Console
from tradelane.cli.format import clock
from tradelane.contracts import subjects
from tradelane.contracts.envelope import utc_now
from tradelane.runtime.bus_flush import flush_queued
from tradelane.runtime.summaries import describe, short_id

DEFAULT_PATTERNS = (subjects.PIPELINE_ALL, subjects.TRADING_ALL, subjects.DEAD_LETTER_ALL)


@dataclass(frozen=True)
class TailOptions:
    pattern: str | None
    execution_id: UUID | None
    as_json: bool
    count: int | None
    """Stop after this many messages (None: until Ctrl-C)."""


def render(msg: Msg, options: TailOptions) -> str | None:
    """The line for one message, or None when it is filtered out."""
    headers = dict(msg.headers or {})
    described = describe(msg.subject, msg.data, headers)
    if options.execution_id is not None and described.execution_id != str(options.execution_id):
        return None
    received = utc_now()
    if options.as_json:
        try:
            body: object = json.loads(msg.data)
        except ValueError:
            body = msg.data.decode(errors="replace")
        record = {"received_at": received.isoformat(), "subject": msg.subject, "headers": headers, "message": body}
        return json.dumps(record, separators=(",", ":"))
    replay = f" replay of {short_id(described.replay_of)}" if described.replay_of else ""
    return f"{clock(received)}  {msg.subject:<32} {short_id(described.execution_id)}{replay}  {described.summary}"


async def tail(connections: Connections, console: Console, options: TailOptions) -> int:
    """Print messages until ``options.count`` were shown, or forever."""
    client = await connections.nats()
    queue: asyncio.Queue[Msg] = asyncio.Queue()

    async def enqueue(msg: Msg) -> None:
        await queue.put(msg)

    patterns = (options.pattern,) if options.pattern else DEFAULT_PATTERNS
    for pattern in patterns:
        await client.subscribe(pattern, cb=enqueue)
    await flush_queued(client)
    console.note(f"tailing {', '.join(patterns)} on {connections.endpoints.nats.shown} (Ctrl-C stops)")
    shown = 0
    while options.count is None or shown < options.count:
        line = render(await queue.get(), options)
        if line is not None:
            console.print(line)
            shown += 1
    return 0
