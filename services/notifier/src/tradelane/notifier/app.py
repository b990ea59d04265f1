"""Wiring of the notifier: its settings, its targets, its consumers and its settings answer."""

from __future__ import annotations

from datetime import timedelta

import structlog

from tradelane.contracts import subjects
from tradelane.contracts.events import SignalGenerated, StepFailed
from tradelane.contracts.llm_budget import LlmBudgetCrossed
from tradelane.contracts.notifications import NotificationSettings
from tradelane.contracts.trading import TradingStateChanged
from tradelane.notifier.config import NotifierSettings
from tradelane.notifier.handlers import Notifier
from tradelane.notifier.sending import targets_of
from tradelane.runtime.errors import PermanentStepError
from tradelane.runtime.injection import NatsMessage
from tradelane.runtime.service import Service
from tradelane.runtime.streams import NOTIFIER_CONSUMERS

log = structlog.get_logger(__name__)


def build(settings: NotifierSettings | None = None) -> Service:
    """The notifier: signals, failed steps, order events, trading state changes and LLM budget crossings in,
    notifications out (or only acks, with no URL)."""
    settings = settings or NotifierSettings()
    notifier = Notifier(
        targets_of(settings.notification_urls),
        settings.notification_kinds,
        max_age=timedelta(seconds=settings.notify_max_age_seconds),
        timeout_seconds=settings.notify_timeout_seconds,
    )
    # A notification it could not send is no failed execution: it only dead-letters, like the lineage.
    service = Service("notifier", settings, report_failures=False)
    signals, failures, orders, trading_state, llm_budget = NOTIFIER_CONSUMERS

    @service.on_start
    async def say_what_is_sent() -> None:
        shown = notifier.settings
        if shown.enabled:
            log.info("notifier_enabled", targets=list(shown.targets), kinds=[kind.value for kind in shown.kinds])
        else:
            log.info("notifier_disabled", reason="TRADELANE_NOTIFY_URLS is not set: events are acked unsent")

    @service.subscriber(signals)
    async def on_signal(msg: SignalGenerated) -> None:
        await notifier.on_event(msg)

    @service.subscriber(failures)
    async def on_step_failed(msg: StepFailed) -> None:
        await notifier.on_event(msg)

    @service.subscriber(orders)
    async def on_order_event(body: dict[str, object], message: NatsMessage) -> None:
        subject = message.raw_message.subject
        contract = subjects.event_type_for(subject)
        if contract is None:
            msg = f"no contract is known for {subject!r}"
            raise PermanentStepError(msg)
        await notifier.on_event(contract.model_validate(body))

    @service.subscriber(trading_state)
    async def on_trading_state_changed(msg: TradingStateChanged) -> None:
        await notifier.on_event(msg)

    @service.subscriber(llm_budget)
    async def on_llm_budget_crossed(msg: LlmBudgetCrossed) -> None:
        await notifier.on_event(msg)

    @service.broker.subscriber(subjects.NOTIFIER_SETTINGS, queue=subjects.NOTIFIER_SERVICE_QUEUE)
    async def settings_of_notifications() -> NotificationSettings:
        return notifier.settings

    return service
