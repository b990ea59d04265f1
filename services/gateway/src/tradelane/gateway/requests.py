"""Requests to other services over NATS request/reply: one request model in, one reply model out."""

from __future__ import annotations

from typing import TypeVar

import nats.errors
from fastapi import HTTPException, status

from tradelane.contracts.envelope import Contract
from tradelane.gateway.state import GatewayState

ReplyT = TypeVar("ReplyT", bound=Contract)


class ServiceDidNotAnswerError(Exception):
    """The request reached the service (or may have), but no reply came in time: the outcome is unknown."""


async def ask_service(
    state: GatewayState, service: str, subject: str, request: Contract, reply: type[ReplyT], seconds: float
) -> ReplyT:
    """One request to ``service`` (as ``tradelane run`` names it).

    A 503 naming the service when none runs to answer; :class:`ServiceDidNotAnswerError` on a
    timeout, which the caller turns into what the unknown outcome means for its route.
    """
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
            f"no {service} service is running to answer; start it (tradelane run {service}) and retry",
        ) from error
    except nats.errors.TimeoutError as error:
        raise ServiceDidNotAnswerError(f"the {service} service did not answer within {seconds:g} s") from error
    return reply.model_validate_json(message.data)
