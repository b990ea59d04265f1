"""``/api/signals``: every signal the pipeline produced, from the signals ledger, with what became of it.

The ledger service records each signal event (``pipeline.signal.generated``, and the candidates a
rule rejected on ``pipeline.signal.rejected``) with its provenance: the analyst and model, the
prompt template and version, the chart, the tokens and cost. A generated signal that auto-trading
turned into an order is linked to that entry order by its id (the order's ``signal_id``); one
signal's page (``GET /api/signals/{id}``) follows the whole chain: execution, analysis, signal,
orders with their fills, and the positions they moved.

Each signal lists its outcomes (traded, shadow, manual) and the one that counts (``result``). A
person records one by hand with ``POST /api/signals/{id}/outcome`` (a trade closed outside
tradelane): the gateway writes it, then publishes it (``pipeline.outcome.recorded``) as the ledger
does its own; the automatic outcome stays beside it. A publish that fails is logged: the outcome
is recorded, and the ledger's copy of it comes from the same row.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated
from uuid import UUID

import nats.errors
import structlog
from fastapi import APIRouter, Body, HTTPException, Query, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field

from tradelane.contracts.envelope import utc_now
from tradelane.contracts.events import Action, Analysis, Signal
from tradelane.contracts.fields import PG_INT_MAX, Moment, PlainDecimal, Text, Version
from tradelane.contracts.outcomes import (
    ManualOutcome,
    OutcomeKind,
    OutcomeRecorded,
    OutcomeSource,
    is_hit,
    realised_r,
    trade_pnl,
)
from tradelane.contracts.trading import OrderStatus
from tradelane.gateway.book import Book
from tradelane.gateway.deps import Caller, Ledger, Lineage, State
from tradelane.gateway.errors import NOT_FOUND
from tradelane.gateway.routes.orders import OrderDetailOut
from tradelane.gateway.routes.portfolio import PositionOut
from tradelane.gateway.schemas import ExecutionOut
from tradelane.gateway.trade_chain import trade_chain
from tradelane.store.ledger import LedgerOutcome, LedgerSignal, SignalQuery, SignalStatus, effective_outcome

router = APIRouter(prefix="/api/signals", tags=["signals"])
log = structlog.get_logger(__name__)


class OutcomeOut(BaseModel):
    """One outcome of a signal."""

    source: OutcomeSource = Field(description="'traded' (its fills), 'shadow' (the bars that followed) or 'manual'.")
    kind: OutcomeKind
    hit: bool | None = Field(description="Whether the signal was right: R above 0 (a HOLD: flat); null: unknown.")
    exit_price: PlainDecimal | None
    exit_at: datetime | None
    r_multiple: PlainDecimal | None = Field(description="The result in units of the risk taken (entry to stop).")
    mfe_r: PlainDecimal | None = Field(description="Maximum favourable excursion in R (shadow outcomes).")
    mae_r: PlainDecimal | None = Field(description="Maximum adverse excursion in R (shadow outcomes).")
    pnl: PlainDecimal | None
    fees: PlainDecimal | None
    quantity: PlainDecimal | None
    bars: int = Field(description="Bars a shadow outcome looked at.")
    note: str
    recorded_by: str | None = Field(description="The token that recorded a manual outcome.")
    occurred_at: datetime = Field(description="When it was decided.")

    @classmethod
    def of(cls, outcome: LedgerOutcome) -> OutcomeOut:
        return cls.model_validate(outcome, from_attributes=True)


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
    result: OutcomeOut | None = Field(
        description="The outcome that counts: the manual one, else the traded one, else the shadow one; null while "
        "it has none."
    )
    outcomes: list[OutcomeOut] = Field(description="Every outcome it has, in that order.")

    @classmethod
    def of(cls, row: LedgerSignal, order: tuple[UUID, OrderStatus] | None, outcomes: list[LedgerOutcome]) -> SignalOut:
        counted = effective_outcome(outcomes)
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
            result=OutcomeOut.of(counted) if counted else None,
            outcomes=[OutcomeOut.of(outcome) for outcome in outcomes],
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


def _unprocessable(loc: tuple[str, ...], problem: str, value: object) -> RequestValidationError:
    """A 422 in FastAPI's validation shape, at ``loc``, saying what to change."""
    return RequestValidationError([{"type": "value_error", "loc": loc, "msg": problem, "input": str(value)}])


def _status_filter(status_: SignalStatus | None, outcome: SignalStatus | None) -> SignalStatus | None:
    if status_ is not None and outcome is not None and status_ != outcome:
        problem = f"status {status_!r} and outcome {outcome!r} disagree; outcome is status's earlier name: give one"
        raise _unprocessable(("query", "outcome"), problem, outcome)
    return status_ or outcome


async def _listed(rows: list[LedgerSignal], ledger: Ledger, book: Book) -> list[SignalOut]:
    ids = [row.signal_id for row in rows]
    placed = {order.signal_id: (order.id, order.status) for order in await book.entry_orders_of_signals(ids)}
    outcomes = await ledger.outcomes_of(ids)
    return [SignalOut.of(row, placed.get(row.signal_id), outcomes.get(row.signal_id, [])) for row in rows]


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
    return await _listed(await ledger.signals(query, limit=limit, offset=offset), ledger, book)


@router.get("/{signal_id}", summary="Get a signal with its chain", responses=NOT_FOUND)
async def get_signal(signal_id: UUID, ledger: Ledger, lineage: Lineage, book: Book) -> SignalDetailOut:
    """The signal, its provenance, the execution and analysis it came from, and the orders, fills and positions
    it led to."""
    row = await ledger.signal(signal_id)
    if row is None:
        raise signal_not_found(signal_id)
    [listed] = await _listed([row], ledger, book)
    execution = await lineage.execution_summary(row.execution_id)
    chain = await trade_chain(book, row.execution_id)
    return SignalDetailOut(
        **listed.model_dump(),
        execution=ExecutionOut.of(execution) if execution else None,
        analysis=Analysis.model_validate(row.analysis),
        orders=chain.orders,
        positions=chain.positions,
    )


def _manual_outcome_problem(row: LedgerSignal, body: ManualOutcome) -> RequestValidationError | None:
    """Why ``body`` cannot be an outcome of ``row``, in words that say what to change; None when it can."""
    signal = ("path", "signal_id")
    if row.status == "rejected":
        problem = f"signal {row.signal_id} was rejected ({row.rule}): it was never to be traded, so it has no outcome"
        return _unprocessable(signal, problem, row.signal_id)
    if row.action == Action.HOLD.value:
        problem = f"signal {row.signal_id} is a HOLD: it asked for no trade, so no trade outcome can be recorded for it"
        return _unprocessable(signal, problem, row.signal_id)
    if row.entry is None or row.stop is None or row.entry == row.stop:
        problem = f"signal {row.signal_id} has no entry and stop to measure an outcome against"
        return _unprocessable(signal, problem, row.signal_id)
    exit_at = ("body", "exit_at")
    if body.exit_at < row.occurred_at:
        problem = (
            f"exit_at {body.exit_at.isoformat()} is before the signal, made at {row.occurred_at.isoformat()}: "
            "a trade of it closed after that"
        )
        return _unprocessable(exit_at, problem, body.exit_at.isoformat())
    if body.exit_at > utc_now():
        problem = f"exit_at {body.exit_at.isoformat()} is in the future: record the outcome once the trade has closed"
        return _unprocessable(exit_at, problem, body.exit_at.isoformat())
    return None


@router.post(
    "/{signal_id}/outcome",
    summary="Record a signal's outcome by hand",
    status_code=status.HTTP_201_CREATED,
    responses=NOT_FOUND,
)
async def record_outcome(
    signal_id: UUID, body: Annotated[ManualOutcome, Body()], ledger: Ledger, state: State, caller: Caller
) -> OutcomeOut:
    """The outcome of a trade of the signal closed outside tradelane: its exit price and time (and quantity
    and fees, for its P&L). R is computed from the signal's entry and stop. It is kept beside the automatic
    outcome, and counts before it; recording it again replaces the earlier manual one.

    404 for an unknown signal; 422 for a rejected signal, a HOLD, or an exit before the signal or in the future.
    """
    row = await ledger.signal(signal_id)
    if row is None:
        raise signal_not_found(signal_id)
    problem = _manual_outcome_problem(row, body)
    if problem is not None:
        raise problem
    assert row.entry is not None
    assert row.stop is not None
    action = Action(row.action)
    r = realised_r(action, row.entry, row.stop, body.exit_price)
    fees = body.fees or Decimal(0)
    event = OutcomeRecorded(
        execution_id=row.execution_id,
        strategy_id=row.strategy_id,
        replay_of=row.replay_of,
        causation_id=row.signal_id,
        signal_id=row.signal_id,
        source="manual",
        kind=OutcomeKind.MANUAL,
        hit=is_hit(r),
        exit_price=body.exit_price,
        exit_at=body.exit_at,
        r_multiple=r,
        pnl=trade_pnl(action, row.entry, body.exit_price, body.quantity, fees) if body.quantity else None,
        fees=body.fees,
        quantity=body.quantity,
        note=body.note,
        recorded_by=caller.token.name,
    )
    outcome = LedgerOutcome.of(event)
    await ledger.record_outcome(outcome)
    try:
        await state.bus.publish(event)
    except (nats.errors.Error, TimeoutError) as error:
        log.warning("outcome_unpublished", signal_id=str(signal_id), reason=str(error) or type(error).__name__)
    return OutcomeOut.of(outcome)
