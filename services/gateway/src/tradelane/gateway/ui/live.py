"""Server-Sent Events that carry rendered HTML fragments to htmx's SSE extension.

A stream renders its fragment from the lineage once a second and sends it only when it
changed, so an idle page costs one small query a second and no traffic. It ends when the
thing it follows is finished (it then sends ``done``, which the page names in ``sse-close``
so the browser does not reconnect), when the browser goes away, or after
:data:`STREAM_LIFETIME` (the browser reconnects on its own), so no stream outlives a
shutdown for long.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Final

from fastapi import Request
from fastapi.responses import StreamingResponse

POLL_SECONDS: Final = 1.0
STREAM_LIFETIME: Final = 120.0
DONE: Final = "done"


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
