"""What a person reads about one event: a short title and body, and how urgent it is (pure).

One function per kind of event; :func:`notice_of` picks it by the event's type. A HOLD
signal says "do nothing", so it is no news: it has no notice. A halt is a failure to look at,
reducing only a warning, and a resume a success; an LLM budget reached in full is a failure
(the analyst stops asking the model for the day), the earlier thresholds warnings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any, Final

from tradelane.contracts.envelope import Envelope
from tradelane.contracts.events import Action, SignalGenerated, StepFailed
from tradelane.contracts.fields import plain
from tradelane.contracts.llm_budget import BUDGET_THRESHOLDS, LlmBudgetCrossed
from tradelane.contracts.notifications import NotificationKind
from tradelane.contracts.trading import (
    OrderCancelled,
    OrderEvent,
    OrderFilled,
    OrderPartiallyFilled,
    OrderRejected,
    OrderSubmitted,
    TradingState,
    TradingStateChanged,
)


class Urgency(StrEnum):
    """How a notice should look where it lands (Apprise's notify types)."""

    INFO = "info"
    SUCCESS = "success"
    WARNING = "warning"
    FAILURE = "failure"


@dataclass(frozen=True)
class Notice:
    """One notification: its kind (for the per-kind switch), its title, its text and its urgency."""

    kind: NotificationKind
    title: str
    body: str
    urgency: Urgency


def _price(value: Decimal | None) -> str:
    return "-" if value is None else plain(value)


def _signal(event: SignalGenerated) -> Notice | None:
    signal = event.signal
    if signal.action is Action.HOLD:
        return None
    lines = [
        f"{event.strategy.name}: {signal.action.value} {signal.symbol.symbol} (confidence {signal.confidence})",
        f"entry {_price(signal.entry)}, stop {_price(signal.stop)}, "
        f"targets {', '.join(plain(target) for target in signal.targets) or '-'}",
    ]
    if signal.risk_reward is not None:
        lines.append(f"reward/risk {plain(signal.risk_reward)}")
    lines.append(f"expires {signal.expires_at:%Y-%m-%d %H:%M %Z}")
    return Notice(
        NotificationKind.SIGNAL, f"Signal: {signal.action.value} {signal.symbol.symbol}", "\n".join(lines), Urgency.INFO
    )


def _order_line(event: OrderEvent) -> str:
    order = event.order
    price = order.limit_price if order.limit_price is not None else order.stop_price
    at = f" at {plain(price)}" if price is not None else ""
    return (
        f"{order.side.value} {plain(order.quantity)} {order.instrument.symbol} {order.order_type.value}{at} "
        f"({order.role.value}, {event.venue.value}, ref {event.client_ref})"
    )


def _order_submitted(event: OrderSubmitted) -> Notice:
    return Notice(
        NotificationKind.ORDER, f"Order submitted: {event.order.instrument.symbol}", _order_line(event), Urgency.INFO
    )


def _order_cancelled(event: OrderCancelled) -> Notice:
    body = f"{_order_line(event)}\n{event.reason}"
    return Notice(NotificationKind.ORDER, f"Order cancelled: {event.order.instrument.symbol}", body, Urgency.WARNING)


def _order_rejected(event: OrderRejected) -> Notice:
    by = f"risk rule {event.rule}" if event.source == "risk" else f"venue code {event.code}"
    body = f"{_order_line(event)}\nrejected by {by}: {event.reason}"
    return Notice(NotificationKind.ORDER, f"Order rejected: {event.order.instrument.symbol}", body, Urgency.FAILURE)


def _fill_line(event: OrderFilled | OrderPartiallyFilled) -> str:
    fill = event.fill
    return (
        f"{event.order.side.value} {plain(fill.quantity)} {event.order.instrument.symbol} at {plain(fill.price)} "
        f"(commission {plain(fill.commission)}; filled {plain(event.filled_quantity)} "
        f"of {plain(event.order.quantity)}, average {plain(event.average_price)}; ref {event.client_ref})"
    )


def _order_filled(event: OrderFilled) -> Notice:
    return Notice(NotificationKind.FILL, f"Filled: {event.order.instrument.symbol}", _fill_line(event), Urgency.SUCCESS)


def _order_partially_filled(event: OrderPartiallyFilled) -> Notice:
    title = f"Partly filled: {event.order.instrument.symbol}"
    return Notice(NotificationKind.FILL, title, _fill_line(event), Urgency.INFO)


def _step_failed(event: StepFailed) -> Notice:
    body = (
        f"execution {event.execution_id}: step {event.step} gave up ({event.kind}, "
        f"{event.deliveries} deliveries)\n{event.error}"
    )
    return Notice(NotificationKind.EXECUTION_FAILED, f"Execution failed at {event.step}", body, Urgency.FAILURE)


_STATE_TITLES: Final = {
    TradingState.HALTED: ("Trading HALTED", Urgency.FAILURE),
    TradingState.REDUCING: ("Trading REDUCING only", Urgency.WARNING),
    TradingState.ACTIVE: ("Trading resumed (ACTIVE)", Urgency.SUCCESS),
}


def _trading_state_changed(event: TradingStateChanged) -> Notice:
    title, urgency = _STATE_TITLES[event.state]
    who = "the risk engine" if event.changed_by == "risk-engine" else f"'{event.changed_by}'"
    body = (
        f"{event.previous_state.value} -> {event.state.value} by {who} at {event.changed_at:%Y-%m-%d %H:%M:%S %Z}\n"
        f"{event.reason}"
    )
    return Notice(NotificationKind.HALT, title, body, urgency)


def _llm_budget_crossed(event: LlmBudgetCrossed) -> Notice:
    spent = f"{plain(event.spent.quantize(Decimal('0.01')))} of {plain(event.budget)} USD"
    body = f"LLM spend on {event.day.isoformat()} (UTC): {spent}; the call that crossed it used {event.model}"
    if event.threshold_percent >= BUDGET_THRESHOLDS[-1]:
        body += "\nThe analyst asks no model for the rest of the day (see TRADELANE_LLM_DAILY_BUDGET_USD)."
        urgency = Urgency.FAILURE
    else:
        urgency = Urgency.WARNING
    return Notice(NotificationKind.LLM_BUDGET, f"LLM budget {event.threshold_percent} % reached", body, urgency)


_NOTICES: Final[dict[type[Envelope], Callable[[Any], Notice | None]]] = {
    SignalGenerated: _signal,
    OrderSubmitted: _order_submitted,
    OrderCancelled: _order_cancelled,
    OrderRejected: _order_rejected,
    OrderPartiallyFilled: _order_partially_filled,
    OrderFilled: _order_filled,
    StepFailed: _step_failed,
    TradingStateChanged: _trading_state_changed,
    LlmBudgetCrossed: _llm_budget_crossed,
}
"""Events a person hears about; the others the notifier consumes (an order accepted by the venue) it acks unsent."""


def notice_of(event: Envelope) -> Notice | None:
    """The notice about ``event``, or None when it is no news (a HOLD signal, an order accepted by the venue)."""
    make = _NOTICES.get(type(event))
    return make(event) if make is not None else None
