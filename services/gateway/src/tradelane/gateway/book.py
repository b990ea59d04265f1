"""What the trading routes share: the book, read from Postgres.

The gateway reads orders, positions and snapshots straight from the book the broker keeps, through
:class:`~tradelane.store.book.reads.BookReads`, which cannot write. Its only writes there are the
trading state and the risk limits, through :mod:`tradelane.store.book.controls` (so the kill switch
works even while the broker is down). Placing and cancelling orders are commands to the broker service:
one NATS request each (:func:`tradelane.gateway.requests.ask_service`), whose reply says what happened.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from tradelane.gateway.deps import gateway_state
from tradelane.gateway.state import GatewayState
from tradelane.store.book.reads import BookReads


def book_repository(state: Annotated[GatewayState, Depends(gateway_state)]) -> BookReads:
    return BookReads(state.pool)


Book = Annotated[BookReads, Depends(book_repository)]
