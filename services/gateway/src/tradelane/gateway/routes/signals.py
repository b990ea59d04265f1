"""``/api/signals``: every signal the pipeline produced, with the order placed from it.

There is no signals ledger yet: signals are read from the lineage, where the signal step of
each execution records the signal generated (``pipeline.signal.generated``) or the candidate
a rule rejected (``pipeline.signal.rejected``). A generated signal that auto-trading turned
into an order is linked to that entry order by its id (the order's ``signal_id``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from tradelane.contracts.events import Action, Signal
from tradelane.contracts.fields import PG_INT_MAX, Moment
from tradelane.contracts.trading import OrderStatus
from tradelane.gateway.book import Book
from tradelane.gateway.deps import Lineage
from tradelane.store.lineage import SignalOutcome, SignalStep

router = APIRouter(prefix="/api/signals", tags=["signals"])


class SignalOut(BaseModel):
    """One signal step: the signal (or the rejected candidate), where it came from and what became of it."""

    signal_id: UUID = Field(description="The signal event's message id; an order placed from it carries it.")
    execution_id: UUID
    strategy_id: UUID
    strategy_name: str = Field(description="The strategy's name when the execution ran.")
    outcome: SignalOutcome = Field(description="'generated', or 'rejected' when a rule refused the candidate.")
    signal: Signal = Field(description="The signal, or the candidate that was rejected.")
    rule: str | None = Field(description="The rule that rejected the candidate.")
    reason: str | None = Field(description="Why the rule rejected it.")
    occurred_at: datetime
    replay_of: UUID | None
    order_id: UUID | None = Field(description="The entry order placed from the signal, if any.")
    order_status: OrderStatus | None

    @classmethod
    def of(cls, step: SignalStep, order: tuple[UUID, OrderStatus] | None) -> SignalOut:
        payload = step.payload
        return cls(
            signal_id=step.signal_id,
            execution_id=step.execution_id,
            strategy_id=step.strategy_id,
            strategy_name=str(payload["strategy"]["name"]),
            outcome=step.outcome,
            signal=Signal.model_validate(payload["signal"] if step.outcome == "generated" else payload["candidate"]),
            rule=payload.get("rule"),
            reason=payload.get("reason"),
            occurred_at=step.occurred_at,
            replay_of=step.replay_of,
            order_id=order[0] if order else None,
            order_status=order[1] if order else None,
        )


@router.get("", summary="List signals")
async def list_signals(
    lineage: Lineage,
    book: Book,
    strategy_id: UUID | None = None,
    action: Action | None = None,
    outcome: SignalOutcome | None = None,
    since: Annotated[Moment | None, Query(description="Only signals at or after this time.")] = None,
    until: Annotated[Moment | None, Query(description="Only signals before this time.")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=PG_INT_MAX)] = 0,
) -> list[SignalOut]:
    """Most recent first, optionally of one strategy, action (of the signal or candidate), outcome and time window."""
    steps = await lineage.signals(
        strategy_id=strategy_id,
        action=action.value if action else None,
        outcome=outcome,
        since=since,
        until=until,
        limit=limit,
        offset=offset,
    )
    orders = await book.entry_orders_of_signals([step.signal_id for step in steps])
    placed = {order.signal_id: (order.id, order.status) for order in orders}
    return [SignalOut.of(step, placed.get(step.signal_id)) for step in steps]
