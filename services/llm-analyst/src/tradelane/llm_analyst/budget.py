"""The daily LLM budget (``TRADELANE_LLM_DAILY_BUDGET_USD``): tell when a day's spend crosses 50, 80 and 100 %.

The spend is the sum of the estimated costs recorded in ``llm.calls`` for the UTC day, by every
replica (calls of models missing from the price table count nothing). After each recorded call
the analyst asks :meth:`DailyBudget.after_call`, which publishes :class:`LlmBudgetCrossed` for
every threshold reached and not yet told that day. Each is published before it is remembered as
told (``llm.budget_crossings``), under a message id derived from the day and the threshold: a
crash in between, or two replicas at once, publish it again, and JetStream drops the repeat.

Once the whole budget is spent, :meth:`DailyBudget.exhausted` says why, and the analyst asks no
model until the next UTC day (see :mod:`tradelane.llm_analyst.handlers` for what it does instead).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal

import structlog

from tradelane.contracts.events import ChartRendered
from tradelane.contracts.fields import plain
from tradelane.contracts.llm_budget import BUDGET_THRESHOLDS, LlmBudgetCrossed, budget_crossing_id
from tradelane.store.llm import LlmRepository

log = structlog.get_logger(__name__)

_PERCENT = Decimal(100)

Publish = Callable[[LlmBudgetCrossed], Awaitable[None]]


def thresholds_reached(spent: Decimal, budget: Decimal) -> tuple[int, ...]:
    """The thresholds (percent of ``budget``) that ``spent`` has reached, lowest first."""
    return tuple(threshold for threshold in BUDGET_THRESHOLDS if spent * _PERCENT >= budget * threshold)


class DailyBudget:
    """The day's spend against the budget: crossings told once, and the model stopped at 100 %."""

    def __init__(
        self,
        budget: Decimal,
        spending: LlmRepository,
        publish: Publish,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._budget = budget
        self._spending = spending
        self._publish = publish
        self._clock = clock

    async def exhausted(self) -> str | None:
        """Why the model may not be asked today (the whole budget is spent), or None while it may."""
        spent = await self._spending.spent_on(self._clock().astimezone(UTC).date())
        if spent < self._budget:
            return None
        return (
            f"the LLM budget of the day is spent ({plain(spent.quantize(Decimal('0.0001')))} of "
            f"{plain(self._budget)} USD, TRADELANE_LLM_DAILY_BUDGET_USD): no model is asked until 00:00 UTC"
        )

    async def after_call(self, msg: ChartRendered, model: str) -> None:
        """Tell each threshold the day's spend reached and not told yet, as a step of ``msg``'s execution."""
        day = self._clock().astimezone(UTC).date()
        spent = await self._spending.spent_on(day)
        reached = thresholds_reached(spent, self._budget)
        if not reached:
            return
        told = await self._spending.budget_crossings_told(day)
        for threshold in reached:
            if threshold in told:
                continue
            await self._publish(
                msg.follow(
                    LlmBudgetCrossed,
                    message_id=budget_crossing_id(day, threshold),
                    day=day,
                    threshold_percent=threshold,
                    budget=self._budget,
                    spent=spent,
                    model=model,
                )
            )
            await self._spending.budget_crossing_told(day, threshold, spent=spent, budget=self._budget)
            log.warning("llm_budget_crossed", threshold_percent=threshold, spent=str(spent), budget=str(self._budget))
