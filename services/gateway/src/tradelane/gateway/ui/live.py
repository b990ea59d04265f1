"""Server-Sent Events for htmx's SSE extension: rendered HTML fragments, or word that something changed.

Two kinds of stream:

- :func:`stream` renders its fragment from the lineage once a second and sends it only when it
  changed, so an idle page costs one small query a second and no traffic. It ends when the
  thing it follows is finished (it then sends ``done``, which the page names in ``sse-close``
  so the browser does not reconnect).
- :func:`changes` follows the bus instead: while a browser listens it subscribes on core NATS
  (no durable consumer, nothing left behind) to some subjects, and sends an event, without the
  fragment, when messages arrived on them; the page then fetches its fragment again
  (``hx-trigger="sse:<name>"``), through the same route that drew it. The broker's book changes
  only when the broker publishes (after it committed the change), so the event is exactly when
  to look, and an idle page costs nothing.

Every stream also ends when the browser goes away, or after :data:`STREAM_LIFETIME` (the
browser reconnects on its own), so no stream outlives a shutdown for long.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Final

import nats.errors
from fastapi import Request
from fastapi.responses import StreamingResponse
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from tradelane.runtime.bus_flush import flush_queued

POLL_SECONDS: Final = 1.0
STREAM_LIFETIME: Final = 120.0
DONE: Final = "done"
WAIT_SECONDS: Final = 1.0
"""How often a stream that follows the bus checks, while quiet, whether the browser left or its lifetime is over."""
SETTLE_SECONDS: Final = 0.25
"""How long :func:`changes` waits after a message for the rest of its burst (an order's submitted, accepted
and filled come within milliseconds), so the page fetches once for them all, and at most four times a second."""


@dataclass(frozen=True)
class Frame:
    """One rendering of what a stream follows: the HTML, and whether it will change again."""

    html: str
    finished: bool = False


def event(name: str, data: str) -> str:
    """One Server-Sent Event; every line of ``data`` gets its own ``data:`` field."""
    lines = "".join(f"data: {line}\n" for line in data.splitlines() or [""])
    return f"event: {name}\n{lines}\n"


async def frames(
    request: Request, name: str, render: Callable[[], Awaitable[Frame]], poll_seconds: float = POLL_SECONDS
) -> AsyncIterator[str]:
    """Events named ``name`` with each new rendering, then ``done`` once it is finished."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STREAM_LIFETIME
    last: str | None = None
    while loop.time() < deadline and not await request.is_disconnected():
        frame = await render()
        if frame.html != last:
            last = frame.html
            yield event(name, frame.html)
        if frame.finished:
            yield event(DONE, "")
            return
        await asyncio.sleep(poll_seconds)


def stream(request: Request, name: str, render: Callable[[], Awaitable[Frame]]) -> StreamingResponse:
    """The SSE response for :func:`frames`."""
    return event_stream(frames(request, name, render))


def event_stream(events: AsyncIterator[str]) -> StreamingResponse:
    """The SSE response that sends ``events`` (never cached, never buffered by a proxy)."""
    return StreamingResponse(
        events,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@contextlib.asynccontextmanager
async def subscribed(
    client: NatsClient, patterns: Iterable[str], receive: Callable[[Msg], Awaitable[None]]
) -> AsyncIterator[None]:
    """Core NATS subscriptions of ``receive`` to ``patterns`` while inside (in place once entered), none after."""
    subscriptions: list[Subscription] = []
    try:
        for pattern in patterns:
            # one at a time, so those made before a failure are still undone below
            subscriptions.append(await client.subscribe(pattern, cb=receive))  # noqa: PERF401
        await flush_queued(client)
        yield
    finally:
        for subscription in subscriptions:
            with contextlib.suppress(nats.errors.Error):  # the connection is closing: nothing left to undo
                await subscription.unsubscribe()


@dataclass
class Arrivals:
    """Messages that arrived since the browser was last told: a count and a flag, however many came.

    The NATS callback only counts and sets the flag, so it never waits on the browser and holds no
    message: a slow browser costs nothing, and a burst becomes one event.
    """

    count: int = 0
    signal: asyncio.Event = field(default_factory=asyncio.Event)

    async def receive(self, _msg: Msg) -> None:
        """The NATS callback."""
        self.count += 1
        self.signal.set()

    def take(self) -> int:
        """How many arrived since the last take; the flag is down again."""
        taken, self.count = self.count, 0
        self.signal.clear()
        return taken


async def changes(
    request: Request, client: NatsClient, patterns: Iterable[str], name: str, settle_seconds: float = SETTLE_SECONDS
) -> AsyncIterator[str]:
    """An event ``name`` (its data: how many messages) once subscribed, then after each burst of messages on
    ``patterns``.

    The first one covers what was published between the page's rendering and this subscription (and,
    after a reconnect, while the browser was away): the page fetches its fragment once more.
    """
    arrivals = Arrivals()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STREAM_LIFETIME
    async with subscribed(client, patterns, arrivals.receive):
        yield event(name, "0")
        while loop.time() < deadline and not await request.is_disconnected():
            try:
                await asyncio.wait_for(arrivals.signal.wait(), WAIT_SECONDS)
            except TimeoutError:
                continue
            await asyncio.sleep(settle_seconds)
            yield event(name, str(arrivals.take()))
