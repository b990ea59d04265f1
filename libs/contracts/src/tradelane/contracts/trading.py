"""Trading: orders, fills and positions, the broker's events, and the commands the gateway sends it.

Every order carries a client reference (IB's ``orderRef``) that is derived from what caused
it: the signal's message id for an automatic order, the caller's ``client_order_id`` for a
manual one. The broker stores orders unique on that reference and publishes each event under
a message id derived from it, so a redelivered signal, a restart or a retried request never
places a second order.

Events are ``Envelope``s of the execution that caused them (the signal's), so the lineage
shows signal -> order -> fill -> position as one chain. A manual order has no execution: it
gets one of its own (:func:`manual_execution_id`) under :data:`MANUAL_STRATEGY_ID`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Final, Literal
from uuid import NAMESPACE_URL, UUID, uuid5

from pydantic import AwareDatetime, Field, ValidationInfo, field_validator

from tradelane.contracts.envelope import Contract, Envelope
from tradelane.contracts.fields import Fraction, Money, PlainDecimal, Price, Quantity, Ratio
from tradelane.contracts.market import ResolvedSymbol
from tradelane.contracts.strategy import SymbolRef

MANUAL_STRATEGY_ID = UUID(int=0)
"""The strategy id of a manual order's events (it belongs to no strategy)."""

_REFERENCES = uuid5(NAMESPACE_URL, "https://tradelane/orders")
CLIENT_ORDER_ID_PATTERN = r"^[A-Za-z0-9_-]{1,32}$"
MAX_OPEN_POSITIONS = 1000
"""The most a max_open_positions limit may be set to."""


class OrderSide(StrEnum):
    BUY = "BUY"
    SELL = "SELL"

    @property
    def sign(self) -> int:
        """+1 for a buy, -1 for a sell: the direction the position moves."""
        return 1 if self is OrderSide.BUY else -1

    @property
    def opposite(self) -> OrderSide:
        return OrderSide.SELL if self is OrderSide.BUY else OrderSide.BUY


class OrderType(StrEnum):
    """Order types, spelled as IB spells them."""

    MARKET = "MKT"
    LIMIT = "LMT"
    STOP = "STP"
    STOP_LIMIT = "STP LMT"

    @property
    def needs_limit_price(self) -> bool:
        return self in {OrderType.LIMIT, OrderType.STOP_LIMIT}

    @property
    def needs_stop_price(self) -> bool:
        return self in {OrderType.STOP, OrderType.STOP_LIMIT}


class TimeInForce(StrEnum):
    DAY = "DAY"
    GTC = "GTC"
    IOC = "IOC"


class OrderRole(StrEnum):
    """An order's part in its group: a bracket is an entry with a take-profit and a stop-loss."""

    ENTRY = "entry"
    TAKE_PROFIT = "take_profit"
    STOP_LOSS = "stop_loss"


class OrderStatus(StrEnum):
    """Where an order stands; only events from the broker (never polling) move it on."""

    PENDING_SUBMIT = "pending_submit"
    """Recorded, not yet acknowledged by the venue (after a crash: reconciled, then placed once)."""
    ACCEPTED = "accepted"
    """The venue holds it (working, or waiting for its parent to fill)."""
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    PENDING_CANCEL = "pending_cancel"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    """Refused by the risk engine or by the venue; ``reject_rule``/``reject_code`` say which."""

    @property
    def terminal(self) -> bool:
        return self in {OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED}


class TradingState(StrEnum):
    """What the risk engine lets through."""

    ACTIVE = "ACTIVE"
    REDUCING = "REDUCING"
    """Only orders that reduce an existing position."""
    HALTED = "HALTED"
    """No new orders; cancels only."""


class Venue(StrEnum):
    """Where orders go: the built-in paper simulator, or Interactive Brokers."""

    PAPER = "paper"
    IB = "ib"


TradingMode = Literal["paper", "live"]


def trading_day_start(now: datetime) -> datetime:
    """Midnight UTC of ``now``'s day in UTC: the daily P&L and the daily loss limit count from here.

    ``now`` may be in any time zone: 23:30 in New York on 4 December is 04:30 UTC on 5 December,
    whose day starts at 5 December 00:00 UTC.
    """
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


ORDER_REF_PREFIX: Final = "tl-"
"""Every order tradelane places has a client reference (IB's ``orderRef``) starting so; others' orders never do."""


def signal_order_ref(signal_id: UUID) -> str:
    """The client reference of the order a signal places (its bracket children add a suffix)."""
    return f"{ORDER_REF_PREFIX}s-{uuid5(_REFERENCES, str(signal_id)).hex[:20]}"


def manual_order_ref(client_order_id: str) -> str:
    """The client reference of a manual order, from the id its caller chose."""
    return f"{ORDER_REF_PREFIX}m-{client_order_id}"


def child_order_ref(parent_ref: str, role: OrderRole) -> str:
    """The reference of a bracket child: the entry's reference and the child's role."""
    suffix = {OrderRole.TAKE_PROFIT: "tp", OrderRole.STOP_LOSS: "sl", OrderRole.ENTRY: "entry"}[role]
    return f"{parent_ref}-{suffix}"


def manual_execution_id(client_ref: str) -> UUID:
    """The execution a manual order's events belong to (manual orders have no pipeline run)."""
    return uuid5(_REFERENCES, f"manual/{client_ref}")


def trading_message_id(client_ref: str, what: str) -> UUID:
    """A trading event's message id: the same for the same order and happening, so repeats are dropped."""
    return uuid5(_REFERENCES, f"{client_ref}/{what}")


def order_id(client_ref: str) -> UUID:
    """The id under which the REST API serves an order (derived from its client reference)."""
    return uuid5(_REFERENCES, f"order/{client_ref}")


class OrderTicket(Contract):
    """One order as the broker sends it to the venue."""

    client_ref: str = Field(min_length=1, max_length=64, description="Client reference (IB orderRef).")
    instrument: ResolvedSymbol
    side: OrderSide
    order_type: OrderType
    quantity: PlainDecimal = Field(ge=0, description="Units; 0 only on an order the risk engine refused before sizing.")
    limit_price: PlainDecimal | None = Field(default=None, description="For LMT and STP LMT.")
    stop_price: PlainDecimal | None = Field(default=None, description="Trigger price for STP and STP LMT.")
    tif: TimeInForce = TimeInForce.DAY
    role: OrderRole = OrderRole.ENTRY
    parent_ref: str | None = Field(default=None, description="The entry of a bracket, for its children.")
    oca_group: str | None = Field(default=None, description="One-cancels-all group of a bracket's children.")


class Fill(Contract):
    """One execution of (part of) an order."""

    exec_id: str = Field(description="The venue's execution id (unique).")
    quantity: PlainDecimal = Field(gt=0)
    price: PlainDecimal = Field(gt=0)
    commission: PlainDecimal = Field(default=Decimal(0), ge=0)
    realized_pnl: PlainDecimal = Field(default=Decimal(0), description="P&L this fill realized, net of commission.")
    filled_at: AwareDatetime


class OrderEvent(Envelope):
    """What every order event carries: the order, its reference and the signal behind it."""

    client_ref: str = Field(description="The order's client reference (IB orderRef).")
    signal_id: UUID | None = Field(description="message_id of the SignalGenerated that caused it; None for manual.")
    order: OrderTicket
    venue: Venue


class OrderSubmitted(OrderEvent):
    """The risk engine approved the order and it is on its way to the venue."""

    sizing: str = Field(default="", description="How the quantity was reached, with the numbers.")


class OrderAccepted(OrderEvent):
    """The venue acknowledged the order; it is working (or waits for its parent)."""

    broker_order_id: str | None = Field(default=None, description="The venue's id (IB orderId/permId).")


class OrderPartiallyFilled(OrderEvent):
    """Part of the order executed."""

    fill: Fill
    filled_quantity: PlainDecimal = Field(description="Cumulative quantity filled.")
    remaining_quantity: PlainDecimal
    average_price: PlainDecimal


class OrderFilled(OrderEvent):
    """The order executed completely."""

    fill: Fill = Field(description="The execution that completed it.")
    filled_quantity: PlainDecimal
    average_price: PlainDecimal


class OrderCancelled(OrderEvent):
    """The order is no longer working (cancelled by request, by its OCA group, or expired)."""

    reason: str


class OrderRejected(OrderEvent):
    """The order was refused: by the risk engine (``rule``) or by the venue (``code``)."""

    source: Literal["risk", "venue"]
    rule: str | None = Field(default=None, description="The risk rule broken, e.g. 'max_position_notional'.")
    code: int | None = Field(default=None, description="The venue's error code (IB's).")
    reason: str = Field(description="What was wrong, with the numbers.")


class PositionChanged(Envelope):
    """A fill moved a position; quantity 0 means it is closed."""

    instrument: ResolvedSymbol
    quantity: PlainDecimal = Field(description="Signed: negative is short.")
    previous_quantity: PlainDecimal
    average_cost: PlainDecimal = Field(description="Average entry price of the open quantity (0 when flat).")
    realized_pnl: PlainDecimal = Field(description="Realized P&L of this position so far, net of commissions.")
    client_ref: str = Field(description="The order whose fill changed it.")
    signal_id: UUID | None
    exec_id: str


class SignalSkipped(Envelope):
    """A signal that asked to trade placed no order: the broker's guard says why (``rule``, ``reason``).

    Recorded in the lineage as a ``skipped`` step of the signal's execution, so a signal that did
    not trade is never silent. A HOLD, or a signal whose strategy had ``auto_trade`` off in the
    message already, places nothing and is not reported here (nothing was asked).
    """

    signal_id: UUID = Field(description="message_id of the SignalGenerated that was skipped.")
    rule: str = Field(
        description="Why, as a name: strategy_deleted, strategy_inactive, auto_trade_off, "
        "strategy_symbol_changed, replay, redrive."
    )
    reason: str = Field(description="Why, in words.")


class TradingStateChanged(Envelope):
    """The trading state changed (the kill switch, a resume, or the broker halting by itself).

    Published once the change is committed: by the broker through its outbox, by the gateway after
    its write. It belongs to no strategy (:data:`MANUAL_STRATEGY_ID`) and is an execution of its own
    (trigger ``trading_state`` in the lineage); both ids derive from the stored change, so publishing
    it again is dropped (:func:`trading_state_change_id`).
    """

    previous_state: TradingState = Field(description="The state before the change.")
    state: TradingState = Field(description="The state now: HALTED, REDUCING, or ACTIVE (resumed).")
    reason: str = Field(description="Why, in words (the operator's reason, or the rule that halted).")
    changed_by: str = Field(description="'api' for a person, 'risk-engine' when the broker halted by itself.")
    changed_at: AwareDatetime = Field(description="When the change was committed.")


def trading_state_change_id(change: int, changed_at: datetime) -> UUID:
    """Message and execution id of a state change: from its row in the history and its time, the same every publish."""
    return uuid5(_REFERENCES, f"trading-state/{change}/{changed_at.astimezone(UTC).isoformat()}")


class TradingLimits(Contract):
    """Account-wide limits the risk engine checks before every order."""

    risk_per_trade: Fraction = Field(
        default=Decimal("0.02"), description="Most of equity one trade may risk (entry to stop)."
    )
    max_position_notional: Money = Field(
        default=Decimal(25_000), description="Largest |quantity x price| of one position, in currency."
    )
    max_open_positions: int = Field(
        default=5, ge=1, le=MAX_OPEN_POSITIONS, description="Most instruments held (or being entered) at once."
    )
    max_gross_exposure: Money = Field(
        default=Decimal(100_000), description="Largest sum of |position value| plus working entries, in currency."
    )
    daily_loss_limit: Money = Field(
        default=Decimal(2_000), description="Loss since the start of the UTC day that halts trading."
    )
    min_risk_reward: Ratio = Field(
        default=Decimal(1), description="Smallest reward/risk of an order with a stop and a target."
    )
    max_order_quantity: Quantity = Field(default=Decimal(10_000), description="Largest quantity of one order.")
    enforce_trading_hours: bool = Field(default=True, description="Refuse orders outside the exchange's hours.")


class ManualOrder(Contract):
    """An order a user places through the API (a bracket when take_profit or stop_loss is set)."""

    instrument: SymbolRef = Field(description="What to trade; the conid is used when given.")
    side: OrderSide
    order_type: OrderType = OrderType.MARKET
    quantity: Quantity = Field(description="Units to buy or sell.")
    limit_price: Price | None = Field(default=None, validate_default=True, description="Required for LMT, STP LMT.")
    stop_price: Price | None = Field(default=None, validate_default=True, description="Required for STP, STP LMT.")
    tif: TimeInForce = TimeInForce.DAY
    take_profit: Price | None = Field(default=None, description="Bracket: limit price of the take-profit child.")
    stop_loss: Price | None = Field(default=None, description="Bracket: stop price of the stop-loss child.")
    client_order_id: str | None = Field(
        default=None,
        pattern=CLIENT_ORDER_ID_PATTERN,
        description="Your idempotency key: sending the same id again never places a second order.",
    )

    @field_validator("limit_price")
    @classmethod
    def _limit_price_fits_the_type(cls, value: Decimal | None, info: ValidationInfo) -> Decimal | None:
        order_type = info.data.get("order_type")
        if order_type is not None and order_type.needs_limit_price and value is None:
            msg = f"a {order_type.value} order needs a limit_price"
            raise ValueError(msg)
        if order_type is not None and not order_type.needs_limit_price and value is not None:
            msg = f"a {order_type.value} order takes no limit_price; use LMT or STP LMT"
            raise ValueError(msg)
        return value

    @field_validator("stop_price")
    @classmethod
    def _stop_price_fits_the_type(cls, value: Decimal | None, info: ValidationInfo) -> Decimal | None:
        order_type = info.data.get("order_type")
        if order_type is not None and order_type.needs_stop_price and value is None:
            msg = f"a {order_type.value} order needs a stop_price"
            raise ValueError(msg)
        if order_type is not None and not order_type.needs_stop_price and value is not None:
            msg = f"a {order_type.value} order takes no stop_price; use STP or STP LMT"
            raise ValueError(msg)
        return value

    @field_validator("tif")
    @classmethod
    def _bracket_children_can_wait(cls, value: TimeInForce, info: ValidationInfo) -> TimeInForce:
        if value is TimeInForce.IOC and info.data.get("order_type") in {OrderType.STOP, OrderType.STOP_LIMIT}:
            msg = "a stop order cannot be IOC: it would be cancelled before it could trigger"
            raise ValueError(msg)
        return value

    @field_validator("take_profit")
    @classmethod
    def _take_profit_on_the_profit_side(cls, value: Decimal | None, info: ValidationInfo) -> Decimal | None:
        reference = _entry_reference(info)
        side = info.data.get("side")
        if value is not None and reference is not None and side is not None and (value - reference) * side.sign <= 0:
            where = "above" if side is OrderSide.BUY else "below"
            msg = f"a {side.value} bracket's take_profit {value} must be {where} the entry price {reference}"
            raise ValueError(msg)
        return value

    @field_validator("stop_loss")
    @classmethod
    def _stop_loss_on_the_loss_side(cls, value: Decimal | None, info: ValidationInfo) -> Decimal | None:
        reference = _entry_reference(info)
        side = info.data.get("side")
        if value is not None and reference is not None and side is not None and (reference - value) * side.sign <= 0:
            where = "below" if side is OrderSide.BUY else "above"
            msg = f"a {side.value} bracket's stop_loss {value} must be {where} the entry price {reference}"
            raise ValueError(msg)
        return value

    @property
    def is_bracket(self) -> bool:
        return self.take_profit is not None or self.stop_loss is not None


def _entry_reference(info: ValidationInfo) -> Decimal | None:
    limit: Decimal | None = info.data.get("limit_price")
    stop: Decimal | None = info.data.get("stop_price")
    return limit if limit is not None else stop


class PlaceOrder(Contract):
    """Command (request/reply): place a manual order."""

    order: ManualOrder
    client_order_id: str = Field(pattern=CLIENT_ORDER_ID_PATTERN, description="Idempotency key (the gateway's).")


PlacementOutcome = Literal["submitted", "rejected", "unavailable"]


class OrderPlaced(Contract):
    """Reply to :class:`PlaceOrder`."""

    outcome: PlacementOutcome
    client_ref: str
    order_ids: tuple[UUID, ...] = Field(default=(), description="Ids of the recorded orders (a bracket has three).")
    rule: str | None = Field(default=None, description="The risk rule that refused it.")
    reason: str = ""


class CancelOrder(Contract):
    """Command (request/reply): cancel one order."""

    order_id: UUID


CancelOutcome = Literal["cancelled", "pending_cancel", "refused", "not_found", "unavailable"]


class CancelReply(Contract):
    """Reply to :class:`CancelOrder`; ``refused`` says why the venue would not cancel."""

    outcome: CancelOutcome
    reason: str = ""
    status: OrderStatus | None = Field(default=None, description="The order's status after the attempt.")
