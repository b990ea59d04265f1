"""The trading events an order's changes publish: built from the stored order, queued in the book's transaction.

Their message ids derive from the order's client reference and what happened (``submitted``,
``fill/<exec id>``...), so applying the same change twice publishes nothing new (JetStream
de-duplicates on the id).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from tradelane.contracts import subjects
from tradelane.contracts.book import OrderRecord
from tradelane.contracts.trading import (
    OrderEvent,
    PositionChanged,
    SignalSkipped,
    TradingStateChanged,
    trading_message_id,
)
from tradelane.store.book.transactions import BookTransaction


def submitted_id(order: OrderRecord) -> UUID:
    """The message id of the order's ``OrderSubmitted``: what every later event of the order is caused by."""
    return trading_message_id(order.client_ref, "submitted")


def order_event(
    event_type: type[OrderEvent], order: OrderRecord, what: str, causation: UUID | None, at: datetime, **fields: Any
) -> OrderEvent:
    """An event of ``event_type`` about ``order``; ``what`` names the change (and makes the message id)."""
    return event_type.model_validate(
        {
            "message_id": trading_message_id(order.client_ref, what),
            "execution_id": order.execution_id,
            "strategy_id": order.strategy_id,
            "replay_of": order.replay_of,
            "causation_id": causation,
            "occurred_at": at,
            "client_ref": order.client_ref,
            "signal_id": order.signal_id,
            "order": order.ticket,
            "venue": order.venue,
            **fields,
        }
    )


async def publish_later(
    tx: BookTransaction, event: OrderEvent | PositionChanged | SignalSkipped | TradingStateChanged
) -> None:
    """Queue ``event`` in the outbox within ``tx``: it is published once the change it reports is committed."""
    await tx.enqueue(subjects.subject_for(event), event)
