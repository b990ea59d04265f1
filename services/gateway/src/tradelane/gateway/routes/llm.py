"""``/api/llm``: what the LLM analyst's model calls used and cost, and each call in full."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from tradelane.contracts.envelope import utc_now
from tradelane.contracts.fields import Moment, PlainDecimal, Text
from tradelane.gateway.deps import State
from tradelane.gateway.errors import ensure_valid_window
from tradelane.store.llm import CallRecord, CallStatus, UsageRow

router = APIRouter(prefix="/api/llm", tags=["llm"])

DEFAULT_WINDOW = timedelta(days=30)


class UsageRowOut(BaseModel):
    """One strategy's calls to one model on one UTC day."""

    day: date
    strategy_id: UUID
    strategy_name: str | None = Field(description="null when the strategy was deleted since.")
    model: str
    calls: int
    cached_calls: int = Field(description="Answered from the response cache: no tokens, no cost.")
    failed_calls: int = Field(description="Calls that got no usable reply (their tokens, if any, still count).")
    tokens_in: int
    tokens_out: int
    cost: PlainDecimal = Field(description="Estimated, in the price table's currency (USD by default).")
    unpriced_calls: int = Field(description="Calls with tokens whose model is not in the price table.")

    @classmethod
    def of(cls, row: UsageRow) -> UsageRowOut:
        return cls(**row.__dict__)


class UsageTotals(BaseModel):
    calls: int
    cached_calls: int
    failed_calls: int
    tokens_in: int
    tokens_out: int
    cost: PlainDecimal
    unpriced_calls: int


class UsageOut(BaseModel):
    """Tokens and estimated cost by day, strategy and model, newest day first, with totals."""

    since: datetime
    until: datetime
    rows: list[UsageRowOut]
    totals: UsageTotals


class CallOut(BaseModel):
    """One model call as the analyst recorded it; ``record`` holds prompts, image hashes and raw replies."""

    id: UUID
    execution_id: UUID
    strategy_id: UUID
    purpose: str
    timeframe: str
    provider: str
    model: str
    status: CallStatus
    cached: bool
    tokens_in: int
    tokens_out: int
    latency_ms: float
    cost: PlainDecimal | None
    error: str | None
    record: dict[str, Any]
    occurred_at: datetime

    @classmethod
    def of(cls, call: CallRecord) -> CallOut:
        return cls(**call.__dict__)


@router.get("/usage", summary="Model usage and cost")
async def usage(
    state: State,
    since: Moment | None = None,
    until: Moment | None = None,
    strategy_id: UUID | None = None,
    model: Annotated[Text | None, Query(max_length=200)] = None,
) -> UsageOut:
    """Calls, tokens and estimated cost per UTC day, strategy and model from ``since`` (default: 30 days
    ago) to ``until`` (default: now)."""
    end = until or utc_now()
    start = since or end - DEFAULT_WINDOW
    ensure_valid_window(start, end)
    rows = await state.llm.usage(since=start, until=end, strategy_id=strategy_id, model=model)
    totals = UsageTotals(
        calls=sum(row.calls for row in rows),
        cached_calls=sum(row.cached_calls for row in rows),
        failed_calls=sum(row.failed_calls for row in rows),
        tokens_in=sum(row.tokens_in for row in rows),
        tokens_out=sum(row.tokens_out for row in rows),
        cost=sum((row.cost for row in rows), Decimal(0)),
        unpriced_calls=sum(row.unpriced_calls for row in rows),
    )
    return UsageOut(since=start, until=end, rows=[UsageRowOut.of(row) for row in rows], totals=totals)


@router.get("/calls", summary="Model calls in full")
async def calls(
    state: State,
    execution_id: UUID | None = None,
    strategy_id: UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[CallOut]:
    """Recorded calls, oldest first, of one execution and/or strategy: prompts, images, replies, errors."""
    return [
        CallOut.of(call)
        for call in await state.llm.calls(execution_id=execution_id, strategy_id=strategy_id, limit=limit)
    ]
