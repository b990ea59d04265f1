"""The messages a NATS subject carries, gathered from the moment a test subscribes.

A test subscribes before it publishes what should cause them, then takes them one by one
(``await collected.next()``) or all at once (``await collected.take(3)``), each with a
timeout that names the subject; ``collected.messages`` is everything received so far.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from tradelane.runtime.bus_flush import flush_queued

DEFAULT_TIMEOUT = 10.0


@dataclass
class Collected:
    """Messages received on one subject, in arrival order."""

    subject: str
    messages: list[Msg] = field(default_factory=list)
    _unread: asyncio.Queue[Msg] = field(default_factory=asyncio.Queue)

    async def receive(self, msg: Msg) -> None:
        """The subscription's callback."""
        self.messages.append(msg)
        await self._unread.put(msg)

    async def next(self, timeout: float = DEFAULT_TIMEOUT) -> Msg:
        """The next message not yet taken, waiting up to ``timeout`` seconds for it."""
        try:
            return await asyncio.wait_for(self._unread.get(), timeout)
        except TimeoutError:
            raise AssertionError(f"no message on {self.subject} within {timeout} s") from None

    async def take(self, count: int, timeout: float = DEFAULT_TIMEOUT) -> list[Msg]:
        """The next ``count`` messages not yet taken, waiting up to ``timeout`` seconds for all of them."""
        taken: list[Msg] = []
        try:
            async with asyncio.timeout(timeout):
                while len(taken) < count:
                    taken.append(await self._unread.get())
        except TimeoutError:
            raise AssertionError(f"{len(taken)} of {count} messages on {self.subject} within {timeout} s") from None
        return taken

    def empty(self) -> bool:
        """Whether every message received has been taken."""
        return self._unread.empty()


async def collect(client: NatsClient, subject: str, *, from_stream: bool = False) -> Collected:
    """Gather the messages on ``subject`` (a wildcard is fine) from now on.

    ``from_stream``: read the subject's JetStream stream from its first message instead (an
    ordered consumer), so messages stored before the call are gathered too.
    """
    collected = Collected(subject)
    if from_stream:
        await client.jetstream().subscribe(subject, ordered_consumer=True, cb=collected.receive)
    else:
        await client.subscribe(subject, cb=collected.receive)
        await flush_queued(client)
    return collected
