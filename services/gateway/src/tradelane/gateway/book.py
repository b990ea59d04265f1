"""What the trading routes share: the book, read from Postgres.

The gateway reads orders, positions and snapshots straight from the book the broker keeps,
and writes only the risk limits and the trading state there (so the kill switch works even
while the broker is down). Placing and cancelling orders are commands to the broker service:
one NATS request each (:func:`tradelane.gateway.requests.ask_service`), whose reply says what happened.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from tradelane.gateway.deps import gateway_state
from tradelane.gateway.state import GatewayState
from tradelane.store.broker import BrokerRepository


def book_repository(state: Annotated[GatewayState, Depends(gateway_state)]) -> BrokerRepository:
    return BrokerRepository(state.pool)


Book = Annotated[BrokerRepository, Depends(book_repository)]
