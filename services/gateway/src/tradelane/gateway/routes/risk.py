"""``/api/risk``: the trading state (with the kill switch), the limits, and how much of them is used.

The state and limits live in the book, which the broker reads before every order, so a halt
takes effect at once, even while the broker is down. The limits cannot go above the hard
ceilings the operator set (``TRADELANE_TRADING_CEILINGS``): such a PUT is a 422 naming the
ceiling, and the broker enforces the ceilings whatever the book holds.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Final, Literal
from uuid import UUID

import nats.errors
import structlog
from fastapi import APIRouter, Body, HTTPException
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field

from tradelane.contracts import subjects
from tradelane.contracts.book import RiskRecord, TradingStateChange
from tradelane.contracts.ceilings import TradingCeilings
from tradelane.contracts.envelope import utc_now
from tradelane.contracts.fields import PlainDecimal, Text
from tradelane.contracts.trading import CancelOrder, CancelReply, TradingLimits, TradingState, trading_day_start
from tradelane.gateway.book import Book
from tradelane.gateway.deps import State
from tradelane.gateway.requests import ServiceDidNotAnswerError, ask_service
from tradelane.gateway.state import GatewayState
from tradelane.store.book import controls
from tradelane.store.book.reads import BookReads

log = structlog.get_logger(__name__)

router = APIRouter(prefix="/api/risk", tags=["risk"])

API_USER: Final = "api"
CANCEL_SECONDS: Final = 15.0


class RiskUsage(BaseModel):
    """How much of each limit the book uses now (null where there is no book yet)."""

    equity: PlainDecimal | None
    daily_pnl: PlainDecimal | None
    daily_loss_limit: PlainDecimal
    gross_exposure: PlainDecimal | None = Field(
        description="Sum of |position market value| (working entries not included)."
    )
    max_gross_exposure: PlainDecimal
    open_positions: int
    max_open_positions: int
    largest_position_notional: PlainDecimal
    max_position_notional: PlainDecimal
    working_orders: int


class RiskOut(BaseModel):
    """The trading state, why it is what it is, the limits and their use."""

    state: TradingState = Field(description="ACTIVE, REDUCING (only reducing orders) or HALTED (only cancels).")
    reason: str
    changed_by: str = Field(description="'api' for a person, 'risk-engine' when the broker halted by itself.")
    changed_at: datetime
    limits: TradingLimits
    ceilings: TradingCeilings = Field(
        description="Hard ceilings from the operator's settings: the limits cannot go above them through the API, "
        "and the broker never enforces more than them."
    )
    usage: RiskUsage


class HaltIn(BaseModel):
    """The kill switch."""

    reason: Text = Field(min_length=1, max_length=500, examples=["stop everything: checking a data problem"])
    cancel_working_orders: bool = Field(
        default=False, description="Also ask the venue to cancel every working order (stop-losses included)."
    )


class CancelResultOut(BaseModel):
    order_id: UUID
    client_ref: str
    outcome: str = Field(examples=["cancelled", "pending_cancel", "refused", "unavailable"])
    reason: str


class HaltOut(RiskOut):
    cancels: list[CancelResultOut] = Field(description="One per working order, when cancel_working_orders was set.")


class ResumeIn(BaseModel):
    state: Literal[TradingState.ACTIVE, TradingState.REDUCING] = Field(
        default=TradingState.ACTIVE, description="ACTIVE, or REDUCING to allow only orders that reduce a position."
    )
    reason: Text = Field(default="resumed through the API", min_length=1, max_length=500)


async def _risk_out(book: BookReads, risk: RiskRecord, ceilings: TradingCeilings) -> RiskOut:
    now = utc_now()
    portfolio = await book.portfolio(trading_day_start(now))
    positions = await book.positions(open_only=True)
    limits = risk.limits
    return RiskOut(
        state=risk.state,
        reason=risk.reason,
        changed_by=risk.changed_by,
        changed_at=risk.changed_at,
        limits=limits,
        ceilings=ceilings,
        usage=RiskUsage(
            equity=portfolio.equity if portfolio else None,
            daily_pnl=portfolio.daily_pnl if portfolio else None,
            daily_loss_limit=limits.daily_loss_limit,
            gross_exposure=portfolio.gross_exposure if portfolio else None,
            max_gross_exposure=limits.max_gross_exposure,
            open_positions=len(positions),
            max_open_positions=limits.max_open_positions,
            largest_position_notional=max((abs(position.market_value) for position in positions), default=Decimal(0)),
            max_position_notional=limits.max_position_notional,
            working_orders=len(await book.working_orders()),
        ),
    )


@router.get("", summary="Trading state, limits and their use")
async def get_risk(book: Book, state: State) -> RiskOut:
    return await _risk_out(book, await book.risk(), state.ceilings)


@router.put("/limits", summary="Replace the risk limits")
async def put_limits(limits: TradingLimits, book: Book, state: State) -> RiskOut:
    """The broker checks every later order against these; orders already working stay.

    A limit above its hard ceiling is a 422 at that field naming the ceiling; nothing is stored then.
    """
    violations = state.ceilings.violations(limits)
    if violations:
        raise RequestValidationError(
            [
                {
                    "type": "value_error",
                    "loc": ("body", violation.field),
                    "msg": violation.describe(),
                    "input": str(violation.value),
                }
                for violation in violations
            ]
        )
    return await _risk_out(book, await controls.set_limits(state.pool, limits, API_USER), state.ceilings)


@router.post("/halt", summary="Halt trading (kill switch)")
async def halt(body: Annotated[HaltIn, Body()], book: Book, state: State) -> HaltOut:
    """From now on only cancels go through; optionally cancel every working order too.

    A change of state is published as ``trading.risk.state_changed`` (the notifier tells a person).
    """
    change = await controls.set_trading_state(state.pool, TradingState.HALTED, body.reason, API_USER)
    await _announce(state, change)
    risk = change.risk
    cancels: list[CancelResultOut] = []
    if body.cancel_working_orders:
        for order in await book.working_orders():
            try:
                reply = await ask_service(
                    state,
                    "broker",
                    subjects.BROKER_CANCEL_ORDER,
                    CancelOrder(order_id=order.id),
                    CancelReply,
                    CANCEL_SECONDS,
                )
            except ServiceDidNotAnswerError as error:
                reply = CancelReply(outcome="unavailable", reason=str(error))
            except HTTPException as error:
                reply = CancelReply(outcome="unavailable", reason=str(error.detail))
            cancels.append(
                CancelResultOut(
                    order_id=order.id, client_ref=order.client_ref, outcome=reply.outcome, reason=reply.reason
                )
            )
    out = await _risk_out(book, risk, state.ceilings)
    return HaltOut(**out.model_dump(), cancels=cancels)


@router.post("/resume", summary="Resume trading")
async def resume(book: Book, state: State, body: Annotated[ResumeIn | None, Body()] = None) -> RiskOut:
    """Back to ACTIVE (or REDUCING); the daily loss rule still refuses new exposure while the limit is reached."""
    request = body or ResumeIn()
    change = await controls.set_trading_state(state.pool, request.state, request.reason, API_USER)
    await _announce(state, change)
    return await _risk_out(book, change.risk, state.ceilings)


async def _announce(state: GatewayState, change: TradingStateChange) -> None:
    """Publish the ``TradingStateChanged`` of a real change, after its write.

    The write is what halts: a halt must take effect while NATS is down, so a publish that fails
    is logged, never turned into an error of the route. The event's id derives from the stored
    change, so publishing it again is dropped.
    """
    if not change.changed:
        return
    event = change.event()
    if not state.broker.connection.is_connected:
        log.warning("trading_state_change_unpublished", state=event.state.value, reason="NATS is unreachable")
        return
    try:
        await state.bus.publish(event)
    except nats.errors.Error as error:
        log.warning("trading_state_change_unpublished", state=event.state.value, reason=str(error))
