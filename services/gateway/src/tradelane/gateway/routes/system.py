"""``/api/system``: which services answer on the bus, the streams' depth and consumer lag, and the notifier's settings.

Read-only questions to NATS over the gateway's own connection (a health request every
service process answers, JetStream's stream and consumer info), asked through
:mod:`tradelane.runtime.bus_status`, the same calls as ``tradelane status``.

``/api/system/notifications`` asks the notifier over NATS (``tradelane.notifier.settings``)
rather than reading its environment: the gateway and the notifier deploy apart, and only the
notifier knows the URLs it was given. It reports them with their secrets masked.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

import nats.errors
from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, Field

from tradelane.contracts import subjects
from tradelane.contracts.envelope import Contract
from tradelane.contracts.notifications import NotificationSettings
from tradelane.gateway.deps import State
from tradelane.gateway.errors import BUS_UNAVAILABLE
from tradelane.gateway.outage import bus_unavailable
from tradelane.gateway.requests import ServiceDidNotAnswerError, ask_service
from tradelane.runtime.bus_status import expected_services, gather_health, stream_states

router = APIRouter(prefix="/api/system", tags=["system"])


class ProcessOut(BaseModel):
    """One service process's answer to the health request."""

    service: str
    instance: str = Field(description="Host and process id, unique per replica.")
    version: str
    started_at: datetime
    uptime_seconds: float
    ready: bool = Field(description="Connected to NATS with its streams provisioned.")
    in_flight: int
    handled: int
    failed: int = Field(description="Messages given up on since start.")


class ServicesOut(BaseModel):
    """Every process that answered one health request within the window, and the services none answered for."""

    window_seconds: float = Field(description="How long replies were gathered.")
    processes: list[ProcessOut]
    not_answering: list[str] = Field(description="Services expected on the bus with no process answering.")


class ConsumerOut(BaseModel):
    consumer: str = Field(description="The durable consumer's name.")
    pending: int = Field(description="Messages not delivered yet: the lag.")
    ack_pending: int = Field(description="Delivered and not acknowledged yet: in flight or about to be redelivered.")
    redelivered: int


class StreamOut(BaseModel):
    stream: str
    messages: int
    bytes: int
    consumers: list[ConsumerOut]


@router.get("/services", summary="Service health")
async def services(state: State) -> ServicesOut:
    """Asks every service process on the bus for its health report (replies gathered for half a second,
    ``TRADELANE_GATEWAY_HEALTH_WINDOW_SECONDS``)."""
    try:
        reports = await gather_health(state.broker.connection, state.health_window_seconds)
    except nats.errors.Error as error:
        raise bus_unavailable("the health request was not sent", error) from error
    missing = sorted(set(expected_services()) - {report.service for report in reports})
    processes = [ProcessOut.model_validate(report.model_dump()) for report in reports]
    return ServicesOut(window_seconds=state.health_window_seconds, processes=processes, not_answering=missing)


@router.get("/streams", summary="Streams and consumer lag")
async def streams(state: State) -> list[StreamOut]:
    """Each stream's messages and bytes, and each durable consumer's pending and unacknowledged messages."""
    try:
        found = await stream_states(state.broker.connection)
    except nats.errors.Error as error:
        raise bus_unavailable("JetStream did not answer", error) from error
    return [
        StreamOut(
            stream=found_stream.stream,
            messages=found_stream.messages,
            bytes=found_stream.bytes,
            consumers=[
                ConsumerOut(
                    consumer=c.consumer, pending=c.pending, ack_pending=c.ack_pending, redelivered=c.redelivered
                )
                for c in found_stream.consumers
            ],
        )
        for found_stream in found
    ]


NOTIFIER_SECONDS: Final = 5.0
"""How long the notifier has to answer: it answers from memory, so this is plenty."""


@router.get("/notifications", summary="The notifier's settings", responses=BUS_UNAVAILABLE)
async def notifications(state: State) -> NotificationSettings:
    """Where notifications go (Apprise URLs with their secrets masked), which kinds are sent, and when too late.

    503 when no notifier runs to answer, or when it does not answer in time.
    """
    try:
        return await ask_service(
            state, "notifier", subjects.NOTIFIER_SETTINGS, Contract(), NotificationSettings, NOTIFIER_SECONDS
        )
    except ServiceDidNotAnswerError as error:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            f"{error}; check that it runs (tradelane status) and retry",
        ) from error
