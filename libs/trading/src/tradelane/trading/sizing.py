"""Position sizing from risk: never a hard-coded quantity.

``quantity = floor(equity x risk fraction / |entry - stop|)`` to the instrument's quantity step,
then capped by each limit that leaves less room (the largest quantity the position notional, the
gross exposure and the order-quantity limits still allow). The result says which limit bound it,
and how it was reached, with the numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

from tradelane.contracts.strategy import AssetType

_CRYPTO_STEP = Decimal("0.0001")


def quantity_step(asset_type: AssetType) -> Decimal:
    """The smallest quantity increment: whole units, except crypto (0.0001)."""
    return _CRYPTO_STEP if asset_type == AssetType.CRYPTO else Decimal(1)


def floor_to(value: Decimal, step: Decimal) -> Decimal:
    """``value`` rounded down to a multiple of ``step`` (never below 0)."""
    if value <= 0:
        return Decimal(0)
    return ((value / step).to_integral_value(rounding=ROUND_FLOOR) * step).quantize(step)


@dataclass(frozen=True)
class Cap:
    """A limit on the quantity: at most ``quantity``, named for the rule, with how it was computed."""

    rule: str
    quantity: Decimal
    how: str


@dataclass(frozen=True)
class Sizing:
    """A sized quantity; ``bound_by`` names the rule that capped it (None: the risk budget did)."""

    quantity: Decimal
    risk_quantity: Decimal
    bound_by: str | None
    explanation: str


def size_from_risk(
    *,
    equity: Decimal,
    risk_fraction: Decimal,
    entry: Decimal,
    stop: Decimal,
    step: Decimal,
    caps: Sequence[Cap] = (),
) -> Sizing:
    """The quantity that risks ``risk_fraction`` of ``equity`` between ``entry`` and ``stop``, capped by ``caps``."""
    distance = abs(entry - stop)
    if distance == 0:
        msg = f"entry and stop are both {entry}: the risk per unit is 0, so no quantity follows from risk"
        raise ValueError(msg)
    budget = equity * risk_fraction
    risk_quantity = floor_to(budget / distance, step)
    quantity, bound_by = risk_quantity, None
    explanation = f"floor({equity} x {risk_fraction} / |{entry} - {stop}|) = {risk_quantity}"
    for cap in caps:
        allowed = floor_to(cap.quantity, step)
        if allowed < quantity:
            quantity, bound_by = allowed, cap.rule
            explanation += f"; capped to {allowed} by {cap.rule} ({cap.how})"
    return Sizing(quantity=quantity, risk_quantity=risk_quantity, bound_by=bound_by, explanation=explanation)
