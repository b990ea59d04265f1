"""``/api/dlq``: messages a step gave up on, and redriving them to their subject.

A dead letter's id is its sequence in the ``DEADLETTER`` stream. Redriving publishes the
original body to the original subject with a new de-duplication id, then deletes the dead
letter; the lineage keeps the history (a ``dead_letter`` step, then a ``redriven`` step).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import nats.errors
from fastapi import APIRouter, HTTPException, Path, Query, status
from nats.js import JetStreamContext
from pydantic import BaseModel, Field

from tradelane.contracts import subjects
from tradelane.gateway.deps import Caller, State
from tradelane.gateway.outage import bus_unavailable
from tradelane.gateway.schemas import ErrorOut
from tradelane.gateway.security.access import require_scope
from tradelane.runtime.deadletters import (
    DeadLetter,
    DeadLetterNotFoundError,
    Redriven,
    get_dead_letter,
    list_dead_letters,
    redrive,
)
from tradelane.store.auth import Scope

router = APIRouter(prefix="/api/dlq", tags=["dead letters"])

MAX_REDRIVE_BATCH = 100
"""Most dead letters one redrive-all call sends again: each is a publish and a delete, and the
caller waits for all of them."""

MAX_SEQUENCE = 2**63 - 1
"""Largest stream sequence asked for (JetStream's are unsigned 64-bit; beyond this NATS refuses the request)."""
DeadLetterId = Annotated[
    int, Path(ge=1, le=MAX_SEQUENCE, description="The dead letter's sequence in the DEADLETTER stream.")
]
NOT_FOUND: dict[int | str, dict[str, Any]] = {status.HTTP_404_NOT_FOUND: {"model": ErrorOut}}


class DeadLetterOut(BaseModel):
    """A message a step gave up on."""

    id: int = Field(description="Sequence in the DEADLETTER stream; use it to show or redrive.")
    subject: str = Field(description="The subject it was published on.")
    step: str | None = Field(description="The step that gave up on it.")
    kind: str | None = Field(description="'invalid_input', 'permanent' or 'retries_exhausted'.")
    error: str | None
    deliveries: int | None = Field(description="How often it was delivered before the step gave up.")
    original_sequence: int | None = Field(description="Its sequence in its own stream.")
    dead_lettered_at: datetime
    execution_id: str | None
    message_id: str | None

    @classmethod
    def of(cls, dead_letter: DeadLetter) -> DeadLetterOut:
        return cls(
            id=dead_letter.id,
            subject=dead_letter.subject,
            step=dead_letter.step,
            kind=dead_letter.kind,
            error=dead_letter.error,
            deliveries=dead_letter.deliveries,
            original_sequence=dead_letter.original_sequence,
            dead_lettered_at=dead_letter.dead_lettered_at,
            execution_id=dead_letter.execution_id,
            message_id=dead_letter.message_id,
        )


class DeadLetterDetailOut(DeadLetterOut):
    """A dead letter with the original headers and body."""

    headers: dict[str, str]
    body: Any = Field(description="The original body: JSON when it is JSON, else text.")

    @classmethod
    def of_detail(cls, dead_letter: DeadLetter) -> DeadLetterDetailOut:
        body = dead_letter.body
        return cls(
            **DeadLetterOut.of(dead_letter).model_dump(),
            headers=dict(dead_letter.headers),
            body=body if body is not None else dead_letter.data.decode(errors="replace"),
        )


class RedrivenOut(BaseModel):
    """A dead letter published again on its subject (and removed from the dead-letter stream)."""

    id: int
    subject: str
    stream: str
    sequence: int = Field(description="Sequence of the republished message in its stream.")

    @classmethod
    def of(cls, redriven: Redriven) -> RedrivenOut:
        return cls(
            id=redriven.dead_letter_id, subject=redriven.subject, stream=redriven.stream, sequence=redriven.sequence
        )


class NotRedrivenOut(BaseModel):
    id: int
    error: str


class RedriveAllOut(BaseModel):
    """What one batch of redrives did, and how many dead letters are still waiting."""

    redriven: list[RedrivenOut]
    not_redriven: list[NotRedrivenOut]
    remaining: int = Field(description="Dead letters still in the stream (those not redriven included); call again.")


def _jetstream(state: State) -> JetStreamContext:
    return state.bus.jetstream


def _unavailable(error: nats.errors.Error) -> HTTPException:
    return bus_unavailable("the dead-letter stream did not answer", error)


@router.get("", summary="List dead letters")
async def list_all(state: State, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[DeadLetterOut]:
    """Oldest first."""
    try:
        found = await list_dead_letters(_jetstream(state), limit=limit)
    except nats.errors.Error as error:
        raise _unavailable(error) from error
    return [DeadLetterOut.of(dead_letter) for dead_letter in found]


@router.get("/{dead_letter_id}", summary="Get a dead letter", responses=NOT_FOUND)
async def get_one(dead_letter_id: DeadLetterId, state: State) -> DeadLetterDetailOut:
    try:
        return DeadLetterDetailOut.of_detail(await get_dead_letter(_jetstream(state), dead_letter_id))
    except DeadLetterNotFoundError as error:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(error)) from error


@router.post(
    "/{dead_letter_id}/redrive",
    summary="Redrive a dead letter",
    responses={**NOT_FOUND, status.HTTP_409_CONFLICT: {"model": ErrorOut}},
)
async def redrive_one(
    dead_letter_id: DeadLetterId,
    state: State,
    caller: Caller,
    place_orders: Annotated[
        bool,
        Query(description="Let a redriven signal place orders; off by default (a signal that waited here is stale)."),
    ] = False,
) -> RedrivenOut:
    """Publish the original message on its subject again (with a new de-duplication id), then delete the dead letter.

    A redriven signal places no order unless ``place_orders`` is true; ``redrive-all`` never lets one trade.
    """
    if place_orders:
        require_scope(caller, Scope.TRADE, "a redrive that may place orders")
    try:
        return RedrivenOut.of(
            await redrive(
                _jetstream(state), dead_letter_id, max_payload=state.bus.max_payload, place_orders=place_orders
            )
        )
    except DeadLetterNotFoundError as error:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(error)) from error
    except LookupError as error:
        raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from error
    except nats.errors.Error as error:
        raise _unavailable(error) from error


@router.post("/redrive-all", summary="Redrive the oldest dead letters")
async def redrive_all(
    state: State,
    limit: Annotated[
        int, Query(ge=1, le=MAX_REDRIVE_BATCH, description="Most dead letters to redrive in this call.")
    ] = MAX_REDRIVE_BATCH,
) -> RedriveAllOut:
    """Redrive up to ``limit`` dead letters in turn, oldest first; those that cannot be are listed with the reason.

    ``remaining`` says how many are left: call again until it is 0 (or only refused ones are left).
    """
    js = _jetstream(state)
    redriven: list[RedrivenOut] = []
    refused: list[NotRedrivenOut] = []
    try:
        found = await list_dead_letters(js, limit=limit)
    except nats.errors.Error as error:
        raise _unavailable(error) from error
    for dead_letter in found:
        try:
            redriven.append(RedrivenOut.of(await redrive(js, dead_letter.id, max_payload=state.bus.max_payload)))
        except (LookupError, nats.errors.Error) as error:
            refused.append(NotRedrivenOut(id=dead_letter.id, error=str(error)))
    try:
        remaining = (await js.stream_info(subjects.DEAD_LETTER_STREAM)).state.messages
    except nats.errors.Error as error:
        raise _unavailable(error) from error
    return RedriveAllOut(redriven=redriven, not_redriven=refused, remaining=remaining)
