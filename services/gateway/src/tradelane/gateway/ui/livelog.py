"""``/live-log``: bus events as they are published, one line each, over Server-Sent Events.

It shows **bus events**, not the services' structured logs (those go to each process's
output, not to the bus). While a browser listens, the gateway subscribes on core NATS (no
durable consumer, nothing left behind) to ``pipeline.>``, ``trading.>`` and ``deadletter.>``,
and sends a compact line per message: when, subject, execution, and the summary
``tradelane tail`` prints (:mod:`tradelane.runtime.summaries`).

The NATS callback never waits on the browser: it puts the message in a bounded queue and, when
that is full (the browser reads slowly), drops it and counts the drop; the page shows the
count. Like the other streams, one lasts :data:`~tradelane.gateway.ui.live.STREAM_LIFETIME`
at most, then the browser reconnects.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Final
from urllib.parse import urlencode
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, StreamingResponse
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from tradelane.contracts import subjects
from tradelane.contracts.envelope import utc_now
from tradelane.gateway.deps import State
from tradelane.gateway.ui import live
from tradelane.gateway.ui.templating import fragment, render
from tradelane.gateway.ui.viewer import SignedIn
from tradelane.runtime.summaries import describe

router = APIRouter(include_in_schema=False)

PATTERNS: Final = (subjects.PIPELINE_ALL, subjects.TRADING_ALL, subjects.DEAD_LETTER_ALL)
QUEUED: Final = 256
"""Messages held for a slow browser; beyond this they are dropped (and counted), never waited for."""


class Level(StrEnum):
    """Which events to show: all, or only those that mean something went wrong."""

    ALL = "all"
    PROBLEMS = "problems"


Prefix = Annotated[str, Query(max_length=200, description="Show only subjects that start with this.")]

PROBLEM_SUBJECTS: Final = frozenset({subjects.STEP_FAILED, subjects.ORDER_REJECTED})


def is_problem(subject: str) -> bool:
    """A step that gave up, a dead letter, or a rejected order."""
    return subject in PROBLEM_SUBJECTS or subjects.is_dead_letter(subject)


@dataclass(frozen=True)
class LogFilter:
    """What the operator asked to see; an empty field lets everything through."""

    execution_id: UUID | None = None
    subject_prefix: str = ""
    level: Level = Level.ALL

    def passes_subject(self, subject: str) -> bool:
        """The cheap part, checked in the NATS callback before anything is queued."""
        if self.level is Level.PROBLEMS and not is_problem(subject):
            return False
        return subject.startswith(self.subject_prefix)


@dataclass
class Listener:
    """The queue between the NATS callback and one browser, and how many messages it had to drop."""

    wanted: LogFilter
    queue: asyncio.Queue[Msg]
    dropped: int = 0

    async def receive(self, msg: Msg) -> None:
        """The NATS callback: never blocks (a full queue drops the message and counts it)."""
        if not self.wanted.passes_subject(msg.subject):
            return
        try:
            self.queue.put_nowait(msg)
        except asyncio.QueueFull:
            self.dropped += 1


def line(msg: Msg, wanted: LogFilter) -> str | None:
    """The HTML line of one message, or None when the execution filter leaves it out."""
    described = describe(msg.subject, msg.data, dict(msg.headers or {}))
    if wanted.execution_id is not None and described.execution_id != str(wanted.execution_id):
        return None
    context = {
        "received_at": utc_now(),
        "subject": msg.subject,
        "described": described,
        "problem": is_problem(msg.subject),
    }
    return fragment("_log_line.html", context)


async def _lines(request: Request, client: NatsClient, wanted: LogFilter) -> AsyncIterator[str]:
    listener = Listener(wanted, asyncio.Queue(maxsize=QUEUED))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + live.STREAM_LIFETIME
    reported = 0
    async with live.subscribed(client, PATTERNS, listener.receive):
        yield live.event("listening", f"Listening since {utc_now():%H:%M:%S} UTC.")
        while loop.time() < deadline and not await request.is_disconnected():
            try:
                msg = await asyncio.wait_for(listener.queue.get(), live.WAIT_SECONDS)
            except TimeoutError:
                continue
            html = line(msg, wanted)
            if html is not None:
                yield live.event("line", html)
            if listener.dropped != reported:
                reported = listener.dropped
                yield live.event("dropped", f"{reported} event(s) dropped: the browser read too slowly")


def _filter(execution_id: UUID | None, subject: str, level: Level) -> LogFilter:
    return LogFilter(execution_id=execution_id, subject_prefix=subject.strip(), level=level)


@router.get("/live-log")
async def live_log_page(
    request: Request,
    viewer: SignedIn,
    execution_id: Annotated[str, Query(max_length=100)] = "",
    subject: Prefix = "",
    level: Level = Level.ALL,
) -> HTMLResponse:
    """The page; an execution id that is not one is said next to its field (the form sends it as typed)."""
    try:
        execution = UUID(execution_id.strip()) if execution_id.strip() else None
        problem = ""
    except ValueError:
        execution, problem = None, "Not an execution id (a UUID such as 3f2b…): showing every execution."
    wanted = _filter(execution, subject, level)
    query = {
        key: str(value)
        for key, value in {"execution_id": execution, "subject": wanted.subject_prefix, "level": level}.items()
        if value and value != Level.ALL
    }
    return render(
        request,
        "live_log.html",
        {
            "viewer": viewer,
            "page": "live-log",
            "wanted": wanted,
            "execution_problem": problem,
            "levels": list(Level),
            "stream_url": "/live-log/stream" + (f"?{urlencode(query)}" if query else ""),
        },
    )


@router.get("/live-log/stream")
async def live_log_stream(
    request: Request, state: State, execution_id: UUID | None = None, subject: Prefix = "", level: Level = Level.ALL
) -> StreamingResponse:
    """A ``line`` event per bus message that passes the filter (``dropped`` when some had to be), for a while."""
    return live.event_stream(_lines(request, state.broker.connection, _filter(execution_id, subject, level)))
