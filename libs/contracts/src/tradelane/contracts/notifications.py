"""What the notifier tells a person about, and how it is set up (``subjects.NOTIFIER_SETTINGS``).

Each :class:`NotificationKind` names bus events a person may want to hear about; the
notifier sends one short message per event of the kinds switched on.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from tradelane.contracts.envelope import Contract


class NotificationKind(StrEnum):
    """A kind of event a person can be notified of; the names ``TRADELANE_NOTIFY_EVENTS`` lists."""

    SIGNAL = "signal"
    """A BUY or SELL signal passed every rule (``pipeline.signal.generated``; HOLD signals are not sent)."""
    ORDER = "order"
    """An order was submitted, cancelled or rejected (``trading.order.submitted|cancelled|rejected``)."""
    FILL = "fill"
    """An order was filled, in part or completely (``trading.order.partially_filled|filled``)."""
    EXECUTION_FAILED = "execution_failed"
    """A step gave up on an execution (``pipeline.step.failed``)."""
    HALT = "halt"
    """The trading state changed: HALTED, REDUCING, or resumed ACTIVE (``trading.risk.state_changed``)."""
    LLM_BUDGET = "llm_budget"
    """The day's LLM spend reached 50, 80 or 100 % of the daily budget (``pipeline.llm.budget_crossed``)."""


class NotificationSettings(Contract):
    """The notifier's configuration as the system page shows it: no secret in it."""

    enabled: bool = Field(description="At least one target is configured; without one, events are acked unsent.")
    targets: tuple[str, ...] = Field(
        default=(), description="The Apprise URLs notified, with their tokens and passwords masked."
    )
    kinds: tuple[NotificationKind, ...] = Field(default=(), description="The kinds of event sent.")
    max_age_seconds: float = Field(description="Events older than this when handled are acked unsent (too late).")
