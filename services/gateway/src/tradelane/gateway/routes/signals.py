"""``/api/signals``: every signal the pipeline produced, from the signals ledger, with what became of it.

The ledger service records each signal event (``pipeline.signal.generated``, and the candidates a
rule rejected on ``pipeline.signal.rejected``) with its provenance: the analyst and model, the
prompt template and version, the chart, the tokens and cost. A generated signal that auto-trading
turned into an order is linked to that entry order by its id (the order's ``signal_id``); one
signal's page (``GET /api/signals/{id}``) follows the whole chain: execution, analysis, signal,
orders with their fills, and the positions they moved.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, Field

from tradelane.contracts.events import Action, Analysis, Signal
from tradelane.contracts.fields import PG_INT_MAX, Moment, PlainDecimal, Text, Version
from tradelane.contracts.trading import OrderStatus
from tradelane.gateway.book import Book
from tradelane.gateway.deps import Ledger, Lineage
from tradelane.gateway.errors import NOT_FOUND
from tradelane.gateway.routes.orders import OrderDetailOut
from tradelane.gateway.routes.portfolio import PositionOut
from tradelane.gateway.schemas import ExecutionOut
from tradelane.gateway.trade_chain import trade_chain
from tradelane.store.ledger import LedgerSignal, SignalQuery, SignalStatus

router = APIRouter(prefix="/api/signals", tags=["signals"])


class ProvenanceOut(BaseModel):
    """Where a signal came from. Empty fields: a signal step older than the ledger did not say."""

    analyst: str | None = Field(description="'llm' or 'offline'.")
    model: str
    llm_provider: str | None
    prompt_template_id: UUID | None = Field(description="The stored analysis template; null for a built-in one.")
    prompt_name: str | None
    prompt_version: int | None
    chart_sha256: str | None = Field(description="The chart the analyst was shown: GET /api/charts/{sha256}.")
    tokens_in: int
    tokens_out: int
    cost: PlainDecimal | None = Field(description="Estimated cost of the model calls; null when unpriced.")
    reference_price: PlainDecimal | None = Field(description="The last close the signal was made at.")
    reference_bar_time: datetime | None
    bar_size: str
    atr: PlainDecimal | None


class SignalOut(BaseModel):
    """One signal: the signal (or the rejected candidate), where it came from and what became of it."""

    signal_id: UUID = Field(description="The signal event's message id; an order placed from it carries it.")
    execution_id: UUID
    strategy_id: UUID
    strategy_name: str = Field(description="The strategy's name when the execution ran.")
    strategy_version: int | None = Field(
        description="The stored strategy version that ran; null when it was edited or deleted before it was recorded."
    )
    status: SignalStatus = Field(description="'generated', or 'rejected' when a rule refused the candidate.")
    outcome: SignalStatus = Field(description="The same as status (its earlier name), kept for existing clients.")
    signal: Signal = Field(description="The signal, or the candidate that was rejected.")
    rule: str | None = Field(description="The rule that rejected the candidate.")
    reason: str | None = Field(description="Why the rule rejected it.")
    provenance: ProvenanceOut
    occurred_at: datetime
    replay_of: UUID | None
    order_id: UUID | None = Field(description="The entry order placed from the signal, if any.")
    order_status: OrderStatus | None

    @classmethod
    def of(cls, row: LedgerSignal, order: tuple[UUID, OrderStatus] | None) -> SignalOut:
        return cls(
            signal_id=row.signal_id,
            execution_id=row.execution_id,
            strategy_id=row.strategy_id,
            strategy_name=row.strategy_name,
            strategy_version=row.strategy_version,
            status=row.status,
            outcome=row.status,
            signal=Signal.model_validate(row.signal),
            rule=row.rule,
            reason=row.reason,
            provenance=ProvenanceOut.model_validate(row, from_attributes=True),
            occurred_at=row.occurred_at,
            replay_of=row.replay_of,
            order_id=order[0] if order else None,
            order_status=order[1] if order else None,
        )


class SignalDetailOut(SignalOut):
    """One signal with its chain: execution → analysis → signal → orders → fills → positions."""

    execution: ExecutionOut | None = Field(description="The execution that made it; null once its lineage is gone.")
    analysis: Analysis = Field(description="The analysis the signal was made from.")
    orders: list[OrderDetailOut] = Field(description="Orders placed from the signal, each with its fills.")
    positions: list[PositionOut] = Field(description="The current position of each instrument they traded.")


def signal_not_found(signal_id: UUID) -> HTTPException:
    return HTTPException(
        status.HTTP_404_NOT_FOUND, f"no signal with id {signal_id}; list recent signals with GET /api/signals"
    )


def _status_filter(status_: SignalStatus | None, outcome: SignalStatus | None) -> SignalStatus | None:
    if status_ is not None and outcome is not None and status_ != outcome:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"status {status_!r} and outcome {outcome!r} disagree; outcome is status's earlier name: give one",
        )
    return status_ or outcome


async def _with_orders(rows: list[LedgerSignal], book: Book) -> list[SignalOut]:
    orders = await book.entry_orders_of_signals([row.signal_id for row in rows])
    placed = {order.signal_id: (order.id, order.status) for order in orders}
    return [SignalOut.of(row, placed.get(row.signal_id)) for row in rows]


@router.get("", summary="List signals")
async def list_signals(
    ledger: Ledger,
    book: Book,
    strategy_id: UUID | None = None,
    symbol: Annotated[Text | None, Query(max_length=32, description="Ticker, e.g. 'AAPL'.")] = None,
    action: Action | None = None,
    status_: Annotated[SignalStatus | None, Query(alias="status")] = None,
    outcome: Annotated[SignalStatus | None, Query(description="The same as status (its earlier name).")] = None,
    model: Annotated[Text | None, Query(max_length=200, description="The model (or offline analyst).")] = None,
    prompt_template_id: UUID | None = None,
    prompt_version: Annotated[Version | None, Query(description="Version of the analysis prompt template.")] = None,
    since: Annotated[Moment | None, Query(description="Only signals at or after this time.")] = None,
    until: Annotated[Moment | None, Query(description="Only signals before this time.")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=PG_INT_MAX)] = 0,
) -> list[SignalOut]:
    """Most recent first, filtered by strategy, symbol, action (of the signal or candidate), status, model,
    prompt template and version, and time window."""
    query = SignalQuery(
        strategy_id=strategy_id,
        symbol=symbol,
        action=action.value if action else None,
        status=_status_filter(status_, outcome),
        model=model,
        prompt_template_id=prompt_template_id,
        prompt_version=prompt_version,
        since=since,
        until=until,
    )
    return await _with_orders(await ledger.signals(query, limit=limit, offset=offset), book)


@router.get("/{signal_id}", summary="Get a signal with its chain", responses=NOT_FOUND)
async def get_signal(signal_id: UUID, ledger: Ledger, lineage: Lineage, book: Book) -> SignalDetailOut:
    """The signal, its provenance, the execution and analysis it came from, and the orders, fills and positions
    it led to."""
    row = await ledger.signal(signal_id)
    if row is None:
        raise signal_not_found(signal_id)
    [listed] = await _with_orders([row], book)
    execution = await lineage.execution_summary(row.execution_id)
    chain = await trade_chain(book, row.execution_id)
    return SignalDetailOut(
        **listed.model_dump(),
        execution=ExecutionOut.of(execution) if execution else None,
        analysis=Analysis.model_validate(row.analysis),
        orders=chain.orders,
        positions=chain.positions,
    )
