"""Positions and the portfolio valued at the latest marks: pure functions of the book's records.

The broker values the book for its risk checks and snapshots, the gateway for what it shows;
both use these, so a position is worth the same everywhere. Money is ``Decimal``, values in cents.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from tradelane.contracts.book import AccountRecord
from tradelane.contracts.market import ResolvedSymbol

_CENT = Decimal("0.01")


@dataclass(frozen=True)
class PositionRecord:
    """One instrument's position with its latest mark (None when no price was ever seen)."""

    instrument: ResolvedSymbol
    quantity: Decimal
    average_cost: Decimal
    realized_pnl: Decimal
    opened_at: datetime | None
    updated_at: datetime
    mark_price: Decimal | None = None
    marked_at: datetime | None = None

    @property
    def valuation_price(self) -> Decimal:
        """The mark, or the average cost when there is none (so an unpriced position shows no P&L)."""
        return self.mark_price if self.mark_price is not None else self.average_cost

    @property
    def market_value(self) -> Decimal:
        return (self.quantity * self.valuation_price).quantize(_CENT)

    @property
    def unrealized_pnl(self) -> Decimal:
        return (self.quantity * (self.valuation_price - self.average_cost)).quantize(_CENT)


@dataclass(frozen=True)
class Portfolio:
    """The account valued at the latest marks."""

    cash: Decimal
    equity: Decimal
    market_value: Decimal
    gross_exposure: Decimal
    realized_pnl: Decimal
    unrealized_pnl: Decimal
    open_positions: int
    day_start_equity: Decimal
    initial_cash: Decimal

    @property
    def daily_pnl(self) -> Decimal:
        """Equity now minus equity at the start of the UTC day."""
        return self.equity - self.day_start_equity

    @property
    def total_pnl(self) -> Decimal:
        return self.equity - self.initial_cash

    @property
    def return_pct(self) -> Decimal:
        if not self.initial_cash:
            return Decimal(0)
        return (self.total_pnl / self.initial_cash * 100).quantize(Decimal("0.0001"))


def value_portfolio(
    account: AccountRecord, positions: Sequence[PositionRecord], day_start_equity: Decimal | None
) -> Portfolio:
    """Cash, equity and P&L of ``account`` holding ``positions`` (equity = cash + sum of position values)."""
    market_value = sum((position.market_value for position in positions), Decimal(0))
    equity = account.cash + market_value
    return Portfolio(
        cash=account.cash,
        equity=equity,
        market_value=market_value,
        gross_exposure=sum((abs(position.market_value) for position in positions), Decimal(0)),
        realized_pnl=sum((position.realized_pnl for position in positions), Decimal(0)),
        unrealized_pnl=sum((position.unrealized_pnl for position in positions), Decimal(0)),
        open_positions=sum(1 for position in positions if position.quantity != 0),
        day_start_equity=day_start_equity if day_start_equity is not None else account.initial_cash,
        initial_cash=account.initial_cash,
    )
