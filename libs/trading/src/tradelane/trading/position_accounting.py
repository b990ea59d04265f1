"""Position accounting with average cost, in exact decimals.

A fill in the position's direction (or into a flat position) moves the average cost to the
quantity-weighted mean; a fill against it realizes ``closed x (price - average cost)`` (signed
by the position's side) and leaves the average cost of what remains; a fill larger than the
position closes it and opens the rest on the other side at the fill price. Commissions are
paid from cash and counted in realized P&L, so realized P&L is net of costs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from tradelane.contracts.trading import OrderSide

_PRICE_PLACES = Decimal("0.00000001")
_MONEY_PLACES = Decimal("0.00000001")


@dataclass(frozen=True)
class Holding:
    """An instrument's position: signed quantity, average cost, realized P&L so far."""

    quantity: Decimal = Decimal(0)
    average_cost: Decimal = Decimal(0)
    realized_pnl: Decimal = Decimal(0)
    opened_at: datetime | None = None


@dataclass(frozen=True)
class FillEffect:
    """What one fill did: the new holding, the P&L it realized (net of commission), the cash it moved."""

    holding: Holding
    realized_pnl: Decimal
    cash_change: Decimal


def apply_fill(
    holding: Holding,
    side: OrderSide,
    quantity: Decimal,
    price: Decimal,
    commission: Decimal,
    at: datetime,
) -> FillEffect:
    """The effect of buying or selling ``quantity`` at ``price`` on ``holding``."""
    if quantity <= 0 or price <= 0:
        msg = f"a fill needs a positive quantity and price, got {quantity} at {price}"
        raise ValueError(msg)
    signed = quantity * side.sign
    current = holding.quantity
    cash_change = (-signed * price - commission).quantize(_MONEY_PLACES)
    if current == 0 or (current > 0) == (signed > 0):
        total = current + signed
        average = ((abs(current) * holding.average_cost + quantity * price) / abs(total)).quantize(_PRICE_PLACES)
        opened_at = holding.opened_at if current != 0 else at
        realized = -commission
        new = Holding(total, average, holding.realized_pnl + realized, opened_at)
        return FillEffect(new, realized, cash_change)

    closed = min(quantity, abs(current))
    direction = 1 if current > 0 else -1
    realized = (closed * (price - holding.average_cost) * direction - commission).quantize(_MONEY_PLACES)
    remaining = current + signed
    if remaining == 0:
        new = Holding(Decimal(0), Decimal(0), holding.realized_pnl + realized, None)
    elif (remaining > 0) == (current > 0):
        new = Holding(remaining, holding.average_cost, holding.realized_pnl + realized, holding.opened_at)
    else:
        new = Holding(remaining, price, holding.realized_pnl + realized, at)
    return FillEffect(new, realized, cash_change)


def reduces(position: Decimal, side: OrderSide, quantity: Decimal) -> bool:
    """Whether an order only reduces ``position`` (opposite side, no larger than it)."""
    return position != 0 and (position > 0) != (side is OrderSide.BUY) and quantity <= abs(position)
