"""What the trading routes share: the book (read from Postgres) and commands to the broker (NATS request/reply).

The gateway reads orders, positions and snapshots straight from the book the broker keeps,
and writes only the risk limits and the trading state there (so the kill switch works even
while the broker is down). Placing and cancelling orders are commands to the broker service:
one NATS request each, whose reply says what happened.
"""

from __future__ import annotations

from typing import Annotated, TypeVar

import nats.errors
from fastapi import Depends, HTTPException, status

from tradelane.contracts.envelope import Contract
from tradelane.gateway.deps import State, gateway_state
from tradelane.gateway.state import GatewayState
from tradelane.store.broker import BrokerRepository

ReplyT = TypeVar("ReplyT", bound=Contract)


def book_repository(state: Annotated[GatewayState, Depends(gateway_state)]) -> BrokerRepository:
    return BrokerRepository(state.pool)


Book = Annotated[BrokerRepository, Depends(book_repository)]


class BrokerDidNotAnswerError(Exception):
    """The request reached the broker (or may have), but no reply came in time: the outcome is unknown."""


async def ask_broker(state: State, subject: str, request: Contract, reply: type[ReplyT], seconds: float) -> ReplyT:
    """One command to the broker service; 503 when no broker runs, BrokerDidNotAnswerError on a timeout."""
    try:
        message = await state.broker.connection.request(
            subject,
            request.model_dump_json().encode(),
            timeout=seconds,
            headers={"content-type": "application/json"},
        )
    except nats.errors.NoRespondersError as error:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "no broker service is running to answer; start it (tradelane run broker) and retry",
        ) from error
    except nats.errors.TimeoutError as error:
        raise BrokerDidNotAnswerError(f"the broker did not answer within {seconds:g} s") from error
    return reply.model_validate_json(message.data)
