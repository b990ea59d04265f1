"""A process's structured log lines, published on the bus as they are logged: ``logs.<service>``.

The same JSON object stderr shows (:func:`~tradelane.runtime.logging.json_line_formatter`:
redacted before it is rendered, so no secret reaches the bus) goes out on core NATS, not
JetStream: nothing is stored, and a listener (the web UI's live log) sees what is logged
while it listens. ``TRADELANE_LOG_STREAM_LEVEL`` sets the least level streamed (INFO by
default, ``off`` for none), independently of stderr's ``TRADELANE_LOG_LEVEL``.

Logging must never wait for the bus, so :class:`LogStream` is a :class:`logging.Handler`
that only renders the line and puts it in a bounded queue; a background task publishes from
it. A line that finds the queue full, NATS unreachable (nats-py would otherwise hold it in
the reconnect buffer that the events need) or the server refusing it is dropped and counted
(:data:`~tradelane.runtime.metrics.LOG_LINES_DROPPED`), never logged: a line about a lost
line would be one more line to lose. For the same reason the handler leaves out the nats
library's own lines and the report of a refused log line (FastStream logs the server's
refusal, which a stream of it would repeat without end).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Final

import nats.errors
import structlog
from nats.aio.client import Client as NatsClient

from tradelane.contracts import subjects
from tradelane.runtime.background import BackgroundTasks
from tradelane.runtime.logging import StreamLevel, json_line_formatter, level_number
from tradelane.runtime.metrics import LOG_LINES_DROPPED

log = structlog.get_logger(__name__)

QUEUED_LINES: Final = 1024
"""Lines waiting for the publisher; beyond this they are dropped (and counted), never waited for."""
_NATS_LOGGER: Final = "nats"
_REFUSED: Final = "permissions violation"


class LogStream(logging.Handler):
    """Puts the root logger's lines in a bounded queue; :meth:`attach` starts publishing them on ``logs.<service>``."""

    def __init__(self, service: str, client: NatsClient, level: int, capacity: int = QUEUED_LINES) -> None:
        super().__init__(level)
        self.service = service
        self.subject = subjects.logs_of(service)
        self.setFormatter(json_line_formatter())
        self._client = client
        self._queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=capacity)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self.published = 0
        self.dropped = 0

    def attach(self, background: BackgroundTasks) -> None:
        """Receive every line of the process from now on, and publish them in ``background``."""
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        background.start(self._publish_lines(), name="log-stream")
        logging.getLogger().addHandler(self)

    def detach(self) -> None:
        """Receive no more lines; what is still queued is dropped (the publisher is stopped with the background)."""
        if self not in logging.getLogger().handlers:
            return
        logging.getLogger().removeHandler(self)
        self._drop(self._queue.qsize())
        # logged once the handler is gone, so this line cannot feed the stream it describes
        report = log.info if self.dropped else log.debug
        report("log_stream_detached", subject=self.subject, published=self.published, dropped=self.dropped)

    def filter(self, record: logging.LogRecord) -> bool:
        """Leave out nats-py's lines and the server's refusal of a log line: publishing them could feed a loop."""
        if record.name == _NATS_LOGGER or record.name.startswith(f"{_NATS_LOGGER}."):
            return False
        if record.levelno >= logging.WARNING:
            message = record.getMessage()
            if self.subject in message and _REFUSED in message.lower():
                return False
        return super().filter(record)

    def emit(self, record: logging.LogRecord) -> None:
        """Render the line and queue it; never waits, never logs."""
        try:
            line = self.format(record).encode()
        except Exception:  # a line that cannot be rendered is a dropped line, not a new log line
            self._drop()
            return
        if threading.get_ident() == self._loop_thread:
            self._enqueue(line)
            return
        # a line from another thread (a library's worker) joins the queue on the loop's thread
        loop = self._loop
        if loop is None or loop.is_closed():
            self._drop()
            return
        try:
            loop.call_soon_threadsafe(self._enqueue, line)
        except RuntimeError:  # closed in the meantime: the process is ending
            self._drop()

    def _enqueue(self, line: bytes) -> None:
        try:
            self._queue.put_nowait(line)
        except asyncio.QueueFull:
            self._drop()

    def _drop(self, lines: int = 1) -> None:
        if lines:
            self.dropped += lines
            LOG_LINES_DROPPED.labels(self.service).inc(lines)

    async def _publish_lines(self) -> None:
        while True:
            line = await self._queue.get()
            if not self._client.is_connected:
                self._drop()
                continue
            try:
                await self._client.publish(self.subject, line)
            except nats.errors.Error:  # closed, draining, over max_payload: dropped, like a full queue
                self._drop()
            else:
                self.published += 1


def stream_logs(service: str, client: NatsClient, level: StreamLevel, background: BackgroundTasks) -> LogStream | None:
    """Publish this process's lines of ``level`` and above on ``logs.<service>`` through ``client``; None when off."""
    threshold = level_number(level)
    if threshold is None:
        return None
    stream = LogStream(service, client, threshold)
    stream.attach(background)
    return stream
