"""``/live-log``: the services' log lines and the bus events as they happen, one line each, over Server-Sent Events.

While a browser listens, the gateway subscribes on core NATS (no durable consumer, nothing left
behind) to the **log lines** every service publishes on ``logs.<service>``
(:mod:`tradelane.runtime.log_stream`: the JSON object stderr shows, already redacted) and to the
**bus events** of ``pipeline.>``, ``trading.>`` and ``deadletter.>``. A log line shows when,
which service, its level, its event, its execution and a few of its fields; a bus event shows
when, its subject, its execution and the summary ``tradelane tail`` prints
(:mod:`tradelane.runtime.summaries`).

The filters: an execution id (a log line's bound ``execution_id``, an event's envelope); a
service (its log lines, and the events the flow table says it publishes); a least level (bus
events count as info, a failed step, dead letter or rejected order as error); a subject prefix
(an event's subject, a log line's ``logs.<service>`` or the subject of the message it was
logged while handling); and the source (log lines, events, or both).

The NATS callback never waits on the browser: it puts the message in a bounded queue and, when
that is full (the browser reads slowly), drops it and counts the drop; the page shows the
count. Like the other streams, one lasts :data:`~tradelane.gateway.ui.live.STREAM_LIFETIME`
at most, then the browser reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime
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
from tradelane.runtime.bus_permissions import log_publishers
from tradelane.runtime.flow import role_of
from tradelane.runtime.summaries import clip, describe

router = APIRouter(include_in_schema=False)

PATTERNS: Final = (subjects.LOGS_ALL, subjects.PIPELINE_ALL, subjects.TRADING_ALL, subjects.DEAD_LETTER_ALL)
SERVICES: Final = log_publishers()
"""The services whose log lines the page can show (each on its own ``logs.<service>``)."""
QUEUED: Final = 256
"""Messages held for a slow browser; beyond this they are dropped (and counted), never waited for."""
SHOWN_FIELDS: Final = 5
"""Fields of a log line shown after its event (the others are counted); each value is clipped."""
FIELD_WIDTH: Final = 80
_NOT_FIELDS: Final = frozenset({"event", "level", "timestamp", "logger", "execution_id", "message_id"})
"""Keys a log line shows in their own place, or not at all."""


class Level(StrEnum):
    """The least level to show, in increasing order."""

    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"

    @property
    def rank(self) -> int:
        return _RANKS[self]


_RANKS: Final = {level: rank for rank, level in enumerate(Level)}
_LEVEL_OF_NAME: Final = {level.value: level for level in Level} | {"warn": Level.WARNING, "critical": Level.ERROR}
LEVEL_LABELS: Final = {
    Level.DEBUG: "debug and above (all)",
    Level.INFO: "info and above",
    Level.WARNING: "warnings and errors",
    Level.ERROR: "errors, failures and dead letters",
}


class Source(StrEnum):
    """Which kind of line to show."""

    BOTH = "both"
    LOGS = "logs"
    EVENTS = "events"


SOURCE_LABELS: Final = {Source.BOTH: "log lines and events", Source.LOGS: "log lines", Source.EVENTS: "bus events"}

Prefix = Annotated[str, Query(max_length=200, description="Show only subjects that start with this.")]
Service = Annotated[str, Query(max_length=100, description="Show only this service's log lines and events.")]

PROBLEM_SUBJECTS: Final = frozenset({subjects.STEP_FAILED, subjects.ORDER_REJECTED})


def is_problem(subject: str) -> bool:
    """A step that gave up, a dead letter, or a rejected order."""
    return subject in PROBLEM_SUBJECTS or subjects.is_dead_letter(subject)


def level_of_event(subject: str) -> Level:
    """A bus event's level: error for a problem, info for any other."""
    return Level.ERROR if is_problem(subject) else Level.INFO


def publishes(service: str, subject: str) -> bool:
    """Whether the flow table says ``service`` publishes events on ``subject``."""
    return any(subjects.matches(pattern, subject) for pattern in role_of(service).publishes)


@dataclass(frozen=True)
class LogFilter:
    """What the operator asked to see; an empty field lets everything through."""

    execution_id: UUID | None = None
    subject_prefix: str = ""
    service: str = ""
    level: Level = Level.DEBUG
    source: Source = Source.BOTH

    def passes_subject(self, subject: str) -> bool:
        """The cheap part, checked in the NATS callback before anything is queued (a log line is read later)."""
        service = subjects.service_of_log(subject)
        if service is not None:
            return self.source is not Source.EVENTS and self.service in ("", service)
        if self.source is Source.LOGS or (self.service and not publishes(self.service, subject)):
            return False
        return level_of_event(subject).rank >= self.level.rank and subject.startswith(self.subject_prefix)

    def passes_execution(self, execution_id: str | None) -> bool:
        return self.execution_id is None or execution_id == str(self.execution_id)


@dataclass(frozen=True)
class LogLine:
    """One log line of a service, as the page shows it."""

    service: str
    level: Level
    level_name: str
    event: str
    logged_at: datetime
    execution_id: str | None
    handling: str | None
    """The subject of the message the service was handling when it logged the line."""
    fields: tuple[tuple[str, str], ...]
    more_fields: int

    def passes(self, wanted: LogFilter, subject: str) -> bool:
        """The rest of the filter, once the line is read: execution, level and subject prefix."""
        if not wanted.passes_execution(self.execution_id) or self.level.rank < wanted.level.rank:
            return False
        return subject.startswith(wanted.subject_prefix) or (self.handling or "").startswith(wanted.subject_prefix)


def read_log_line(service: str, data: bytes) -> LogLine:
    """A line as :mod:`tradelane.runtime.log_stream` publishes it; anything else is shown as its text, at info."""
    try:
        found = json.loads(data)
    except ValueError:
        found = None
    if not isinstance(found, dict):
        found = {"event": data.decode(errors="replace")}
    level_name = str(found.get("level") or "info").lower()
    fields = [(key, _shown(key, value)) for key, value in found.items() if key not in _NOT_FIELDS]
    execution_id = found.get("execution_id")
    handling = found.get("subject")
    return LogLine(
        service=service,
        level=_LEVEL_OF_NAME.get(level_name, Level.INFO),
        level_name=level_name,
        event=clip(str(found.get("event", "")), FIELD_WIDTH * 2),
        logged_at=_time_of(found.get("timestamp")),
        execution_id=str(execution_id) if execution_id else None,
        handling=handling if isinstance(handling, str) else None,
        fields=tuple(fields[:SHOWN_FIELDS]),
        more_fields=max(len(fields) - SHOWN_FIELDS, 0),
    )


def _shown(key: str, value: object) -> str:
    """A field's value on one short line; of a traceback, its last line (the exception itself)."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    if key == "exception":
        text = text.strip().splitlines()[-1] if text.strip() else text
    return clip(text, FIELD_WIDTH)


def _time_of(stamp: object) -> datetime:
    if isinstance(stamp, str):
        with contextlib.suppress(ValueError):
            return datetime.fromisoformat(stamp)
    return utc_now()


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
    """The HTML line of one message, or None when the rest of the filter leaves it out."""
    service = subjects.service_of_log(msg.subject)
    if service is not None:
        logged = read_log_line(service, msg.data)
        return fragment("_service_line.html", {"line": logged}) if logged.passes(wanted, msg.subject) else None
    described = describe(msg.subject, msg.data, dict(msg.headers or {}))
    if not wanted.passes_execution(described.execution_id):
        return None
    context = {
        "received_at": utc_now(),
        "subject": msg.subject,
        "described": described,
        "problem": is_problem(msg.subject),
    }
    return fragment("_event_line.html", context)


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
                yield live.event("dropped", f"{reported} line(s) dropped: the browser read too slowly")


def _filter(execution_id: UUID | None, subject: str, service: str, level: Level, source: Source) -> LogFilter:
    return LogFilter(
        execution_id=execution_id,
        subject_prefix=subject.strip(),
        service=service if service in SERVICES else "",
        level=level,
        source=source,
    )


def _query(wanted: LogFilter) -> Mapping[str, str]:
    """The stream's query: the filter's fields that are not their default."""
    default = LogFilter()
    chosen = {
        "execution_id": wanted.execution_id,
        "service": wanted.service,
        "subject": wanted.subject_prefix,
        "level": wanted.level,
        "source": wanted.source,
    }
    defaults = {"level": default.level, "source": default.source}
    return {key: str(value) for key, value in chosen.items() if value and value != defaults.get(key)}


@router.get("/live-log")
async def live_log_page(
    request: Request,
    viewer: SignedIn,
    execution_id: Annotated[str, Query(max_length=100)] = "",
    subject: Prefix = "",
    service: Service = "",
    level: Level = Level.DEBUG,
    source: Source = Source.BOTH,
) -> HTMLResponse:
    """The page; an execution id that is not one is said next to its field (the form sends it as typed)."""
    try:
        execution = UUID(execution_id.strip()) if execution_id.strip() else None
        problem = ""
    except ValueError:
        execution, problem = None, "Not an execution id (a UUID such as 3f2b…): showing every execution."
    wanted = _filter(execution, subject, service, level, source)
    query = _query(wanted)
    return render(
        request,
        "live_log.html",
        {
            "viewer": viewer,
            "page": "live-log",
            "wanted": wanted,
            "execution_problem": problem,
            "services": SERVICES,
            "levels": LEVEL_LABELS,
            "sources": SOURCE_LABELS,
            "stream_url": "/live-log/stream" + (f"?{urlencode(query)}" if query else ""),
        },
    )


@router.get("/live-log/stream")
async def live_log_stream(
    request: Request,
    state: State,
    execution_id: UUID | None = None,
    subject: Prefix = "",
    service: Service = "",
    level: Level = Level.DEBUG,
    source: Source = Source.BOTH,
) -> StreamingResponse:
    """A ``line`` event per log line or bus message that passes the filter (``dropped`` when some had to be)."""
    wanted = _filter(execution_id, subject, service, level, source)
    return live.event_stream(_lines(request, state.broker.connection, wanted))
