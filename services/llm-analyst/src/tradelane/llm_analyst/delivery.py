"""The JetStream delivery a handler is working on: how many times it came, and keeping it alive.

A model call can take longer than the consumer's ack wait, and one execution may make several;
:func:`kept_alive` tells the server the message is still in progress (``+WPI``) every third of
the ack wait, so it is not redelivered to another replica meanwhile. The delivery count lets
the handler know a retry is the last one (``max_deliver``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Protocol

import structlog
from faststream.nats import NatsBroker
from faststream.nats.message import NatsMessage

log = structlog.get_logger(__name__)


class Delivery(Protocol):
    """One delivery of a JetStream message."""

    @property
    def deliveries(self) -> int:
        """How many times the message has been delivered, this time included."""
        ...

    async def in_progress(self) -> None:
        """Reset the message's ack timer."""
        ...


class NatsDelivery:
    """:class:`Delivery` of a FastStream NATS message."""

    def __init__(self, message: NatsMessage) -> None:
        self._message = message

    @property
    def deliveries(self) -> int:
        try:
            return int(self._message.raw_message.metadata.num_delivered or 1)
        except ValueError:  # a core NATS message has no JetStream metadata
            return 1

    async def in_progress(self) -> None:
        await self._message.in_progress()


def current_delivery(broker: NatsBroker) -> Delivery | None:
    """The delivery being handled in this task, or None outside a handler."""
    message = broker.context.get_local("message")
    return NatsDelivery(message) if isinstance(message, NatsMessage) else None


@contextlib.asynccontextmanager
async def kept_alive(delivery: Delivery | None, every_seconds: float) -> AsyncIterator[None]:
    """Send ``in_progress`` every ``every_seconds`` while the block runs."""
    if delivery is None:
        yield
        return

    async def beat() -> None:
        while True:
            await asyncio.sleep(every_seconds)
            try:
                await delivery.in_progress()
            except Exception as error:
                log.warning("in_progress_not_sent", error=f"{type(error).__name__}: {error}")

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
