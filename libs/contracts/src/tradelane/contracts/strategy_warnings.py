"""Risky values a strategy may have: allowed, but worth a second look before saving.

The API refuses what is invalid (a 422); these are the values it accepts and still warns
about, so the web UI (through ``POST /api/strategies/check``) and the CLI (when it creates a
strategy) say the same thing from one set of rules.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final

from pydantic import Field

from tradelane.contracts.envelope import Contract
from tradelane.contracts.fields import plain
from tradelane.contracts.strategy import StrategyDefinition

SMALL_ACCOUNT: Final = Decimal(10_000)
"""Below this account size, position sizes round to few shares and commissions weigh heavily."""
LARGE_RISK_PER_TRADE: Final = Decimal("0.05")
"""Above this fraction of equity per trade, a short losing streak takes a large share of the account."""
LOW_MIN_RISK_REWARD: Final = Decimal(1)
"""Below this reward/risk, a signal may win less than it risks."""
LOW_MIN_PROFIT_MARGIN: Final = Decimal("0.03")
"""Below this distance from entry to the first target (a fraction of entry), costs eat much of a win."""


class StrategyWarning(Contract):
    """One risky but allowed value of a strategy."""

    field: str = Field(description="Dotted path of the field in the strategy definition, e.g. 'risk.account_size'.")
    message: str = Field(description="What is risky about the value, for a person.")


def _percent(fraction: Decimal) -> str:
    return f"{plain(fraction * 100)} %"


def strategy_warnings(definition: StrategyDefinition) -> tuple[StrategyWarning, ...]:
    """The risky values of ``definition``, in the order of its risk fields; empty when none."""
    risk = definition.risk
    found: list[StrategyWarning] = []
    if risk.account_size < SMALL_ACCOUNT:
        found.append(
            StrategyWarning(
                field="risk.account_size",
                message=f"account size {plain(risk.account_size)} is under {plain(SMALL_ACCOUNT)}: "
                "positions will be small and commissions weigh heavily",
            )
        )
    if risk.risk_per_trade > LARGE_RISK_PER_TRADE:
        found.append(
            StrategyWarning(
                field="risk.risk_per_trade",
                message=f"risk per trade {_percent(risk.risk_per_trade)} is above {_percent(LARGE_RISK_PER_TRADE)} "
                "of the account: a few losses in a row take a large share of it",
            )
        )
    if risk.min_risk_reward < LOW_MIN_RISK_REWARD:
        found.append(
            StrategyWarning(
                field="risk.min_risk_reward",
                message=f"minimum reward/risk {plain(risk.min_risk_reward)} is below {plain(LOW_MIN_RISK_REWARD)}: "
                "accepted signals may win less than they risk",
            )
        )
    if risk.min_profit_margin < LOW_MIN_PROFIT_MARGIN:
        found.append(
            StrategyWarning(
                field="risk.min_profit_margin",
                message=f"minimum profit margin {_percent(risk.min_profit_margin)} is below "
                f"{_percent(LOW_MIN_PROFIT_MARGIN)}: costs and slippage eat much of a win",
            )
        )
    return tuple(found)
