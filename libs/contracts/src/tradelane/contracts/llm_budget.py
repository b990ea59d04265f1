"""The LLM spending budget: a day's model spend crossing 50 %, 80 % and 100 % of it is an event.

The llm-analyst publishes :class:`LlmBudgetCrossed` once per threshold per UTC day (its message
id derives from the day and the threshold, so a second publish is dropped), as a step of the
execution whose model call crossed it. At 100 % the analyst stops calling the model for the rest
of the day.
"""

from __future__ import annotations

from datetime import date
from typing import Final
from uuid import NAMESPACE_URL, UUID, uuid5

from pydantic import Field

from tradelane.contracts.envelope import Envelope
from tradelane.contracts.fields import PlainDecimal

BUDGET_THRESHOLDS: Final = (50, 80, 100)
"""Percentages of the daily budget whose crossing is told, in rising order."""

_BUDGET_CROSSINGS = uuid5(NAMESPACE_URL, "https://tradelane/llm-budget")


def budget_crossing_id(day: date, threshold_percent: int) -> UUID:
    """The message id of the crossing of ``threshold_percent`` on ``day``: one per threshold per day."""
    return uuid5(_BUDGET_CROSSINGS, f"{day.isoformat()}/{threshold_percent}")


class LlmBudgetCrossed(Envelope):
    """The model spend of one UTC day reached ``threshold_percent`` of the daily budget."""

    day: date = Field(description="The UTC day whose spend is counted.")
    threshold_percent: int = Field(description="The threshold reached: 50, 80 or 100 (% of the budget).")
    budget: PlainDecimal = Field(gt=0, description="The daily budget, in USD (TRADELANE_LLM_DAILY_BUDGET_USD).")
    spent: PlainDecimal = Field(ge=0, description="The estimated spend of the day so far, in USD.")
    model: str = Field(description="The model whose call crossed the threshold.")
