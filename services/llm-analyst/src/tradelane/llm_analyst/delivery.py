"""The JetStream delivery a handler is working on: how many times it came, and since when.

With ``analysis.on_failure: hold``, an unavailable model gives a neutral analysis only on the
delivery the retry rules say is the last (``RetryRules.horizon_spent``); earlier ones are
retried. Heartbeats for a long model call come from the delivery middleware, which keeps every
JetStream message in progress while its handler runs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from faststream.nats import NatsBroker
from faststream.nats.message import NatsMessage
from nats.errors import NotJSMessageError


class Delivery(Protocol):
    """One delivery of a JetStream message."""

    @property
    def deliveries(self) -> int:
        """How many times the message has been delivered, this time included."""
        ...

    @property
    def stored_at(self) -> datetime | None:
        """When the message was stored in its stream (first published); None for a core NATS message."""
        ...


class NatsDelivery:
    """:class:`Delivery` of a FastStream NATS message."""

    def __init__(self, message: NatsMessage) -> None:
        self._message = message

    @property
    def deliveries(self) -> int:
        try:
            return int(self._message.raw_message.metadata.num_delivered or 1)
        except (ValueError, NotJSMessageError):  # a core NATS message has no JetStream metadata
            return 1

    @property
    def stored_at(self) -> datetime | None:
        try:
            return self._message.raw_message.metadata.timestamp
        except (ValueError, NotJSMessageError):
            return None


def current_delivery(broker: NatsBroker) -> Delivery | None:
    """The delivery being handled in this task, or None outside a handler."""
    message = broker.context.get_local("message")
    return NatsDelivery(message) if isinstance(message, NatsMessage) else None
