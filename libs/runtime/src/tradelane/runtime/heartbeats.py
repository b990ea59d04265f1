"""In-progress heartbeats (``+WPI``) for a JetStream message while its handler runs.

``ack_wait`` is short so that the messages of a crashed process come back within seconds; a
handler that runs longer (an LLM call, a PNG render, an IB request) would then be redelivered
to another replica while it still works. The heartbeat resets the server's ack timer every
third of ``ack_wait``, for at most ``handler_timeout_seconds``: by then the delivery rules have
cancelled the handler, and should it not end, its message is redelivered after ``ack_wait``
like a crashed process's rather than held in progress for ever.

Only a JetStream delivery gets heartbeats. A core NATS message's reply subject belongs to its
sender: for a message a JetStream publisher stored in a stream (``js.publish`` is a request),
that is the inbox where the publisher awaits the stream's acknowledgement, and anything we
sent there would reach the publisher instead of that acknowledgement.

The heartbeat is stopped (a send under way awaited) before the message is acked, nak'ed or
terminated, so no ``+WPI`` ever follows the final acknowledgement. It waits as a timer of the
event loop, not as a task: nearly every message is handled long before its first beat, and a
task started, cancelled and awaited for each one cost more than the rest of the heartbeat.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from nats.aio.msg import Msg

log = structlog.get_logger(__name__)

JETSTREAM_ACK_PREFIX = "$JS.ACK."


def is_jetstream_delivery(msg: Msg) -> bool:
    """A message delivered by a JetStream consumer: its reply subject is the consumer's ack subject."""
    return bool(msg.reply) and msg.reply.startswith(JETSTREAM_ACK_PREFIX)


class Heartbeat:
    """Sends ``in_progress`` for one message every ``every_seconds`` from :meth:`start` until :meth:`stop`,
    for at most ``for_at_most_seconds``."""

    def __init__(self, msg: Msg, every_seconds: float, *, for_at_most_seconds: float) -> None:
        self._msg = msg
        self._every = every_seconds
        self._for_at_most = for_at_most_seconds
        self._deadline = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._sending: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._timer is None and self._sending is None and is_jetstream_delivery(self._msg):
            loop = asyncio.get_running_loop()
            self._deadline = loop.time() + self._for_at_most
            self._timer = loop.call_later(self._every, self._beat)

    async def stop(self) -> None:
        """Stop beating; once this returns no heartbeat is in flight or will be sent."""
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
        sending, self._sending = self._sending, None
        if sending is not None:
            sending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sending

    def _beat(self) -> None:
        self._timer = None
        if self._msg.is_acked:
            return
        if asyncio.get_running_loop().time() >= self._deadline:
            log.warning("in_progress_stopped", reason="the handler ran past handler_timeout_seconds")
            return
        self._sending = asyncio.create_task(self._send(), name=f"heartbeat {self._msg.reply}")

    async def _send(self) -> None:
        try:
            await self._msg.in_progress()
        except Exception as error:  # disconnected: the server redelivers after ack_wait, as for a crash
            log.warning("in_progress_not_sent", error=f"{type(error).__name__}: {error}")
        # not stopped meanwhile (stop cancels this task): the next beat
        self._sending = None
        self._timer = asyncio.get_running_loop().call_later(self._every, self._beat)
