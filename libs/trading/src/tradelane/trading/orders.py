"""What to place: a signal or a manual order becomes a group of orders (one order, or a bracket).

A bracket is the entry plus a take-profit (LMT) and a stop-loss (STP) on the other side, both
children of the entry and members of one OCA group, so the first to fill cancels the other.
Every reference is derived from the cause (the signal's message id, or the caller's
``client_order_id``): planning the same cause again yields the same references.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal
from uuid import UUID

from tradelane.contracts.book import OrderSource
from tradelane.contracts.events import Action, SignalGenerated
from tradelane.contracts.market import ResolvedSymbol
from tradelane.contracts.trading import (
    MANUAL_STRATEGY_ID,
    ManualOrder,
    OrderRole,
    OrderSide,
    OrderTicket,
    OrderType,
    TimeInForce,
    child_order_ref,
    manual_execution_id,
    manual_order_ref,
    signal_order_ref,
)

EntryType = Literal["MKT", "LMT"]


@dataclass(frozen=True)
class GroupPlan:
    """One order or a bracket, before the risk engine sizes and checks it.

    ``quantity`` is fixed for a manual order and None for a signal's, which is sized from
    ``risk_fraction`` of equity between the entry and ``stop_loss``. ``reference_price`` is
    the price the limits are checked at: the limit or stop price, else the signal's entry or
    the instrument's last price (None when no price is known).
    """

    group_ref: str
    source: OrderSource
    instrument: ResolvedSymbol
    side: OrderSide
    entry_type: OrderType
    tif: TimeInForce
    execution_id: UUID
    strategy_id: UUID
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    take_profit: Decimal | None = None
    stop_loss: Decimal | None = None
    exit_tif: TimeInForce = TimeInForce.GTC
    quantity: Decimal | None = None
    risk_fraction: Decimal | None = None
    reference_price: Decimal | None = None
    signal_id: UUID | None = None
    causation_id: UUID | None = None
    replay_of: UUID | None = None
    expires_at: datetime | None = None
    """A signal's expiry: after it, the signal places nothing."""

    @property
    def is_bracket(self) -> bool:
        return self.take_profit is not None or self.stop_loss is not None

    @property
    def entry_price(self) -> Decimal | None:
        """The price the entry is expected at: its limit, else its stop, else the reference price."""
        if self.limit_price is not None:
            return self.limit_price
        if self.stop_price is not None:
            return self.stop_price
        return self.reference_price

    def tickets(self, quantity: Decimal) -> list[OrderTicket]:
        """The orders to record and send: the entry first, then the bracket's children."""
        entry = OrderTicket(
            client_ref=self.group_ref,
            instrument=self.instrument,
            side=self.side,
            order_type=self.entry_type,
            quantity=quantity,
            limit_price=self.limit_price,
            stop_price=self.stop_price,
            tif=self.tif,
            role=OrderRole.ENTRY,
        )
        children: list[OrderTicket] = []
        exit_side = self.side.opposite
        oca_group = f"{self.group_ref}-oca"
        if self.take_profit is not None:
            children.append(self._child(OrderRole.TAKE_PROFIT, exit_side, OrderType.LIMIT, quantity, oca_group))
        if self.stop_loss is not None:
            children.append(self._child(OrderRole.STOP_LOSS, exit_side, OrderType.STOP, quantity, oca_group))
        return [entry, *children]

    def _child(
        self, role: OrderRole, side: OrderSide, order_type: OrderType, quantity: Decimal, oca_group: str
    ) -> OrderTicket:
        take_profit = role is OrderRole.TAKE_PROFIT
        return OrderTicket(
            client_ref=child_order_ref(self.group_ref, role),
            instrument=self.instrument,
            side=side,
            order_type=order_type,
            quantity=quantity,
            limit_price=self.take_profit if take_profit else None,
            stop_price=None if take_profit else self.stop_loss,
            tif=self.exit_tif,
            role=role,
            parent_ref=self.group_ref,
            oca_group=oca_group,
        )


def plan_for_signal(
    msg: SignalGenerated, entry_type: EntryType, entry_tif: TimeInForce, risk_fraction: Decimal | None = None
) -> GroupPlan:
    """The bracket a BUY or SELL signal places: entry at the signal's entry, its stop, its first target.

    ``risk_fraction`` is the stored strategy's risk per trade (the broker's reading); None takes the message's.
    """
    signal = msg.signal
    if signal.action is Action.HOLD or signal.entry is None or signal.stop is None:
        msg_text = f"a {signal.action.value} signal without entry and stop places no order"
        raise ValueError(msg_text)
    limit = signal.entry if entry_type == "LMT" else None
    return GroupPlan(
        group_ref=signal_order_ref(msg.message_id),
        source="signal",
        instrument=signal.symbol,
        side=OrderSide.BUY if signal.action is Action.BUY else OrderSide.SELL,
        entry_type=OrderType(entry_type),
        tif=entry_tif,
        limit_price=limit,
        take_profit=signal.targets[0] if signal.targets else None,
        stop_loss=signal.stop,
        risk_fraction=msg.strategy.risk.risk_per_trade if risk_fraction is None else risk_fraction,
        reference_price=signal.entry,
        execution_id=msg.execution_id,
        strategy_id=msg.strategy_id,
        signal_id=msg.message_id,
        causation_id=msg.message_id,
        replay_of=msg.replay_of,
        expires_at=signal.expires_at,
    )


def plan_for_manual(
    order: ManualOrder, client_order_id: str, instrument: ResolvedSymbol, last_price: Decimal | None
) -> GroupPlan:
    """The order (or bracket) a user asked for, under a reference derived from their ``client_order_id``."""
    group_ref = manual_order_ref(client_order_id)
    reference = order.limit_price or order.stop_price or last_price
    return GroupPlan(
        group_ref=group_ref,
        source="manual",
        instrument=instrument,
        side=order.side,
        entry_type=order.order_type,
        tif=order.tif,
        limit_price=order.limit_price,
        stop_price=order.stop_price,
        take_profit=order.take_profit,
        stop_loss=order.stop_loss,
        exit_tif=TimeInForce.GTC,
        quantity=order.quantity,
        reference_price=reference,
        execution_id=manual_execution_id(group_ref),
        strategy_id=MANUAL_STRATEGY_ID,
    )
