"""Hard ceilings on the risk limits: set by the operator's settings, never raised through the API.

The risk limits (:class:`~tradelane.contracts.trading.TradingLimits`) live in the book and the
``trade`` scope may change them at any time; the ceilings are read from the environment
(``TRADELANE_TRADING_CEILINGS``, in the settings every service shares) at start-up. The gateway
refuses limits above a ceiling, naming it, and the broker enforces ``min(limit, ceiling)`` at
order time whatever the book holds, so a stale row or a gateway configured with other ceilings
still cannot trade above them.

They are a contract (not a broker setting only) because two services read them: the gateway to
refuse and to show them, the broker to enforce them; the signals service sizes with
``max_sizing_equity`` too.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from pydantic import Field

from tradelane.contracts.envelope import Contract
from tradelane.contracts.trading import TradingLimits

CEILINGS_VARIABLE = "TRADELANE_TRADING_CEILINGS"
"""The environment variable (JSON object) that sets the ceilings."""


class TradingCeilings(Contract):
    """The most any risk limit (and any single order) may allow, whatever the stored limits say."""

    max_order_notional: Decimal = Field(
        default=Decimal(100_000),
        gt=0,
        description="Largest |quantity x price| of one order, at the worse of its price and the mark.",
    )
    max_position_notional: Decimal = Field(
        default=Decimal(100_000), gt=0, description="Ceiling of the limit max_position_notional."
    )
    max_gross_exposure: Decimal = Field(
        default=Decimal(250_000), gt=0, description="Ceiling of the limit max_gross_exposure."
    )
    max_order_quantity: Decimal = Field(
        default=Decimal(10_000), gt=0, description="Ceiling of the limit max_order_quantity."
    )
    max_risk_per_trade: Decimal = Field(
        default=Decimal("0.05"), gt=0, le=1, description="Ceiling of the limit risk_per_trade (fraction of equity)."
    )
    max_daily_loss_limit: Decimal = Field(
        default=Decimal(10_000), gt=0, description="Ceiling of the limit daily_loss_limit."
    )
    max_open_positions: int = Field(default=20, ge=1, description="Ceiling of the limit max_open_positions.")
    max_sizing_equity: Decimal = Field(
        default=Decimal(1_000_000),
        gt=0,
        description="Most equity any quantity is sized from: the broker's equity and a strategy's account_size "
        "count as at most this much.",
    )

    def violations(self, limits: TradingLimits) -> list[CeilingViolation]:
        """Every limit above its ceiling, in field order."""
        return [
            CeilingViolation(field, ceiling, getattr(limits, field), getattr(self, ceiling))
            for field, ceiling in LIMIT_CEILINGS.items()
            if getattr(limits, field) > getattr(self, ceiling)
        ]

    def clamp(self, limits: TradingLimits) -> TradingLimits:
        """``limits`` with each value lowered to its ceiling (the limits the broker enforces)."""
        lowered = {violation.field: violation.ceiling_value for violation in self.violations(limits)}
        return limits.model_copy(update=lowered) if lowered else limits


LIMIT_CEILINGS: dict[str, str] = {
    "risk_per_trade": "max_risk_per_trade",
    "max_position_notional": "max_position_notional",
    "max_open_positions": "max_open_positions",
    "max_gross_exposure": "max_gross_exposure",
    "daily_loss_limit": "max_daily_loss_limit",
    "max_order_quantity": "max_order_quantity",
}
"""Which ceiling bounds each risk limit (field of TradingLimits -> field of TradingCeilings)."""


@dataclass(frozen=True)
class CeilingViolation:
    """A limit set above its ceiling."""

    field: str
    ceiling: str
    value: Decimal | int
    ceiling_value: Decimal | int

    def describe(self) -> str:
        return (
            f"{self.field} {self.value} is above the ceiling {self.ceiling} = {self.ceiling_value}, which only the "
            f"operator can raise (environment variable {CEILINGS_VARIABLE})"
        )
