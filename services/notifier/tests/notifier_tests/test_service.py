"""The notifier against real NATS: events published on their subjects reach a webhook on loopback."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest
from nats.aio.client import Client as NatsClient
from pydantic import SecretStr

from services.notifier.tests.notifier_tests.events import (
    hours_ago,
    llm_budget_crossed,
    order_filled,
    signal_generated,
    step_failed,
    trading_state_changed,
)
from services.notifier.tests.notifier_tests.webhook import WebhookReceiver
from tests.support.waiting import consistently, eventually
from tradelane.contracts import subjects
from tradelane.contracts.envelope import BacktestTag, Envelope
from tradelane.contracts.events import Action
from tradelane.contracts.notifications import NotificationKind, NotificationSettings
from tradelane.contracts.trading import TradingState
from tradelane.notifier.app import build
from tradelane.notifier.config import NotifierSettings
from tradelane.runtime.bus import event_headers
from tradelane.runtime.service import Service
from tradelane.runtime.settings import Settings

DECIDED_AT = datetime(2025, 1, 2, 21, 0, tzinfo=UTC)

StartNotifier = Callable[..., Awaitable[Service]]


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    hook = WebhookReceiver()
    yield hook
    await hook.close()


@pytest.fixture
async def start_notifier(settings: Settings) -> AsyncIterator[StartNotifier]:
    """``await start_notifier(notify_urls=..., notify_events=...)``: a running notifier with those settings."""
    started: list[Service] = []

    async def start(**notify: Any) -> Service:
        service = build(NotifierSettings.model_validate({**settings.model_dump(), **notify}))
        await service.start()
        started.append(service)
        return service

    yield start
    for service in started:
        await service.close()


async def _publish(client: NatsClient, event: Envelope, subject: str | None = None) -> None:
    """Publish ``event`` on its subject, or on ``subject``."""
    subject = subject or subjects.subject_for(event)
    await client.jetstream().publish(
        subject, event.model_dump_json().encode(), headers=event_headers(event), stream=subjects.stream_of(subject)
    )


async def _consumer_done(client: NatsClient, stream: str, durable: str) -> bool:
    """The consumer has delivered something and nothing waits for delivery or an ack."""
    info = await client.jetstream().consumer_info(stream, durable)
    return bool(info.delivered.consumer_seq) and info.num_pending == 0 and info.num_ack_pending == 0


async def _acked_all(client: NatsClient, *consumers: tuple[str, str]) -> None:
    """Wait until each (stream, durable) consumer has acked everything it was given."""
    for stream, durable in consumers:
        done = functools.partial(_consumer_done, client, stream, durable)
        await eventually(done, f"{durable} acked what it got")


async def test_a_fill_reaches_the_webhook(
    start_notifier: StartNotifier, receiver: WebhookReceiver, nats_client: NatsClient
) -> None:
    await start_notifier(notify_urls=SecretStr(await receiver.start()))
    await _publish(nats_client, order_filled())
    [taken] = await eventually(lambda: receiver.taken, "the fill notification at the webhook")
    assert taken["title"] == "Filled: AAPL"
    assert taken["message"].startswith("BUY 10 AAPL at 190.4")
    assert taken["type"] == "success"


async def test_a_buy_signal_reaches_the_webhook_and_a_hold_does_not(
    start_notifier: StartNotifier, receiver: WebhookReceiver, nats_client: NatsClient
) -> None:
    await start_notifier(notify_urls=SecretStr(await receiver.start()))
    await _publish(nats_client, signal_generated(Action.HOLD))
    await _publish(nats_client, signal_generated(Action.BUY))
    await eventually(lambda: receiver.taken, "the signal notification at the webhook")
    await eventually(
        lambda: _consumer_done(nats_client, subjects.PIPELINE_STREAM, "notifier-signals"), "both signals acked"
    )
    assert [body["title"] for body in receiver.taken] == ["Signal: BUY AAPL"]


async def test_a_refused_notification_is_retried_and_delivered_once(
    start_notifier: StartNotifier, receiver: WebhookReceiver, nats_client: NatsClient
) -> None:
    receiver.fail_next(503)
    await start_notifier(notify_urls=SecretStr(await receiver.start()))
    await _publish(nats_client, step_failed())
    await eventually(lambda: receiver.taken, "the failure notification, after a retry")
    await eventually(
        lambda: _consumer_done(nats_client, subjects.PIPELINE_STREAM, "notifier-failures"), "the failure acked"
    )
    assert [received.status for received in receiver.requests] == [503, 200]
    await consistently(lambda: len(receiver.requests) == 2, "no further sends", seconds=1.5)


async def test_a_redelivery_goes_only_to_the_target_that_refused(
    start_notifier: StartNotifier, nats_client: NatsClient
) -> None:
    working, refusing = WebhookReceiver(), WebhookReceiver()
    try:
        refusing.fail_next(500)
        urls = f"{await working.start()},{await refusing.start()}"
        await start_notifier(notify_urls=SecretStr(urls))
        await _publish(nats_client, order_filled())
        await eventually(lambda: refusing.taken, "the notification at the refusing target, after a retry")
        assert (len(working.requests), len(refusing.requests)) == (1, 2)
    finally:
        await working.close()
        await refusing.close()


async def test_without_a_url_events_are_acked_and_nothing_is_sent(
    start_notifier: StartNotifier, receiver: WebhookReceiver, nats_client: NatsClient
) -> None:
    await receiver.start()  # listening, but not configured: it must hear nothing
    await start_notifier()
    await _publish(nats_client, order_filled())
    await _publish(nats_client, signal_generated(Action.SELL))
    await _acked_all(
        nats_client, (subjects.TRADING_STREAM, "notifier-orders"), (subjects.PIPELINE_STREAM, "notifier-signals")
    )
    assert receiver.requests == []


async def test_kinds_switched_off_and_stale_events_are_acked_unsent(
    start_notifier: StartNotifier, receiver: WebhookReceiver, nats_client: NatsClient
) -> None:
    await start_notifier(notify_urls=SecretStr(await receiver.start()), notify_events="fill,execution_failed")
    await _publish(nats_client, signal_generated(Action.BUY))
    await _publish(nats_client, step_failed(at=hours_ago(2)))
    await _publish(nats_client, order_filled())
    await eventually(lambda: receiver.taken, "the fill notification")
    await _acked_all(
        nats_client, (subjects.PIPELINE_STREAM, "notifier-signals"), (subjects.PIPELINE_STREAM, "notifier-failures")
    )
    assert [body["title"] for body in receiver.taken] == ["Filled: AAPL"]


async def test_the_settings_reply_over_nats_shows_targets_masked_and_the_kinds_sent(
    start_notifier: StartNotifier, nats_client: NatsClient
) -> None:
    """A request on ``tradelane.notifier.settings`` is answered by the running notifier, passwords masked."""
    await start_notifier(
        notify_urls=SecretStr("mailto://alerts:hunter22@example.org"),
        notify_events="fill,signal",
        notify_max_age_seconds=3600,
    )
    reply = await nats_client.request(subjects.NOTIFIER_SETTINGS, b"", timeout=5)
    shown = NotificationSettings.model_validate_json(reply.data)
    assert (shown.enabled, shown.kinds, shown.max_age_seconds) == (
        True,
        (NotificationKind.SIGNAL, NotificationKind.FILL),
        3600,
    )
    [target] = shown.targets
    assert "alerts:****@example.org" in target
    assert b"hunter22" not in reply.data


async def test_a_halt_and_the_resume_reach_the_webhook(
    start_notifier: StartNotifier, receiver: WebhookReceiver, nats_client: NatsClient
) -> None:
    await start_notifier(notify_urls=SecretStr(await receiver.start()), notify_events="halt")
    await _publish(nats_client, trading_state_changed(TradingState.HALTED, reason="checking a data problem"))
    await eventually(lambda: receiver.taken, "the halt notification")
    await _publish(nats_client, trading_state_changed(TradingState.ACTIVE, previous=TradingState.HALTED))
    await eventually(lambda: len(receiver.taken) == 2, "the resume notification")
    halted, resumed = receiver.taken
    assert (halted["title"], halted["type"]) == ("Trading HALTED", "failure")
    assert halted["message"].endswith("checking a data problem")
    assert (resumed["title"], resumed["type"]) == ("Trading resumed (ACTIVE)", "success")


async def test_an_llm_budget_crossing_reaches_the_webhook_once(
    start_notifier: StartNotifier, receiver: WebhookReceiver, nats_client: NatsClient
) -> None:
    """The same threshold of the same day published twice is one message id: JetStream keeps it once."""
    await start_notifier(notify_urls=SecretStr(await receiver.start()), notify_events="llm_budget")
    crossing = llm_budget_crossed(50, spent="5.01")
    await _publish(nats_client, crossing)
    await _publish(nats_client, crossing.model_copy(update={"execution_id": uuid4()}))
    [taken] = await eventually(lambda: receiver.taken, "the budget notification")
    await _acked_all(nats_client, (subjects.PIPELINE_STREAM, "notifier-llm-budget"))
    assert (taken["title"], taken["type"]) == ("LLM budget 50 % reached", "warning")
    assert len(receiver.requests) == 1


async def test_nothing_of_a_backtest_is_sent(
    start_notifier: StartNotifier, receiver: WebhookReceiver, nats_client: NatsClient
) -> None:
    """A backtest's signal, failed step and fill are acked unsent; the live fill published after them is sent.

    Backtests' signals have a subject of their own, which the notifier does not consume; this one goes on the live
    subject (as a signals service of an older version publishes it) to reach the notifier's own check of the tag.
    """
    await start_notifier(notify_urls=SecretStr(await receiver.start()))
    tag = BacktestTag(backtest_id=uuid4(), variant="base", seq=0, decided_at=DECIDED_AT)
    backtests_signal = signal_generated(Action.BUY).model_copy(update={"backtest": tag})
    await _publish(nats_client, backtests_signal, subjects.SIGNAL_GENERATED)
    for event in (step_failed(), order_filled()):
        await _publish(nats_client, event.model_copy(update={"backtest": tag}))
    await _publish(nats_client, order_filled())
    await eventually(lambda: receiver.taken, "the live fill's notification")
    await _acked_all(
        nats_client,
        (subjects.PIPELINE_STREAM, "notifier-signals"),
        (subjects.PIPELINE_STREAM, "notifier-failures"),
        (subjects.TRADING_STREAM, "notifier-orders"),
    )
    assert [body["title"] for body in receiver.taken] == ["Filled: AAPL"]


async def test_an_llm_budget_crossed_by_a_backtests_model_call_is_sent(
    start_notifier: StartNotifier, receiver: WebhookReceiver, nats_client: NatsClient
) -> None:
    """The day's spend is news whoever spent it: the crossing, a step of the backtest's execution, is sent."""
    await start_notifier(notify_urls=SecretStr(await receiver.start()), notify_events="llm_budget")
    tag = BacktestTag(backtest_id=uuid4(), variant="base", seq=0, decided_at=DECIDED_AT)
    await _publish(nats_client, llm_budget_crossed(80, spent="8.01").model_copy(update={"backtest": tag}))
    [taken] = await eventually(lambda: receiver.taken, "the budget notification")
    assert taken["title"] == "LLM budget 80 % reached"
