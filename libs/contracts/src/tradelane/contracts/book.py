"""The book's records: orders, the account, risk state, snapshots and reconciliations as stored.

The broker service keeps the book in Postgres and the gateway shows it, so both read these
records (through ``tradelane.store.book``); they are plain frozen dataclasses, not messages,
and never travel over the bus. Positions and their valuation are in :mod:`tradelane.contracts.portfolio`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal
from uuid import UUID

from tradelane.contracts.trading import (
    MANUAL_STRATEGY_ID,
    OrderStatus,
    OrderTicket,
    TradingLimits,
    TradingMode,
    TradingState,
    TradingStateChanged,
    Venue,
    trading_state_change_id,
)

OrderSource = Literal["signal", "manual"]
SnapshotReason = Literal["schedule", "fill", "reconcile"]


@dataclass(frozen=True)
class OrderRecord:
    """An order as the book holds it: the ticket sent to the venue plus where it stands."""

    id: UUID
    ticket: OrderTicket
    group_ref: str
    source: OrderSource
    venue: Venue
    execution_id: UUID
    strategy_id: UUID
    signal_id: UUID | None
    causation_id: UUID | None
    status: OrderStatus
    filled_quantity: Decimal = Decimal(0)
    average_price: Decimal | None = None
    commission: Decimal = Decimal(0)
    broker_order_id: str | None = None
    reject_rule: str | None = None
    reject_code: int | None = None
    reason: str | None = None
    sizing: str = ""
    working_since: datetime | None = None
    """Since when the order can execute (a bracket child: once its entry filled); None while it cannot."""
    sent_at: datetime | None = None
    """When it was handed to the venue; None while it never was."""
    replay_of: UUID | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def client_ref(self) -> str:
        return self.ticket.client_ref

    @property
    def remaining(self) -> Decimal:
        return self.ticket.quantity - self.filled_quantity


@dataclass(frozen=True)
class AccountRecord:
    venue: Venue
    mode: TradingMode
    account_id: str
    currency: str
    initial_cash: Decimal
    cash: Decimal
    connected: bool
    updated_at: datetime


@dataclass(frozen=True)
class SnapshotRecord:
    taken_at: datetime
    reason: SnapshotReason
    cash: Decimal
    equity: Decimal
    gross_exposure: Decimal
    realized_pnl: Decimal
    unrealized_pnl: Decimal
    daily_pnl: Decimal
    open_positions: int


@dataclass(frozen=True)
class RiskRecord:
    state: TradingState
    reason: str
    changed_by: str
    changed_at: datetime
    limits: TradingLimits


@dataclass(frozen=True)
class TradingStateChange:
    """One write of the trading state: the controls after it, the state before, and its row in the history."""

    risk: RiskRecord
    previous_state: TradingState
    change: int
    """Id of the change in the history (``broker.risk_events``)."""

    @property
    def changed(self) -> bool:
        """The state is another than before (a second halt only updates the reason)."""
        return self.risk.state is not self.previous_state

    def event(self) -> TradingStateChanged:
        """The bus event that tells of this change (the same ids however often it is built)."""
        change_id = trading_state_change_id(self.change, self.risk.changed_at)
        return TradingStateChanged(
            message_id=change_id,
            execution_id=change_id,
            strategy_id=MANUAL_STRATEGY_ID,
            occurred_at=self.risk.changed_at,
            previous_state=self.previous_state,
            state=self.risk.state,
            reason=self.risk.reason,
            changed_by=self.risk.changed_by,
            changed_at=self.risk.changed_at,
        )


@dataclass(frozen=True)
class ReconciliationRecord:
    at: datetime
    kind: str
    client_ref: str | None
    conid: int | None
    detail: str
