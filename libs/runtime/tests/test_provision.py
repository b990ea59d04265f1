"""``provision`` on a server an older version provisioned: the JetStream data stays, consumers take the new layout."""

from __future__ import annotations

from dataclasses import replace

from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from tradelane.contracts import subjects
from tradelane.contracts.subjects import Step
from tradelane.runtime.settings import Settings
from tradelane.runtime.streams import BACKTESTER_CONSUMERS, STEP_CONSUMERS, ConsumerSpec, consumer_config, provision

BACKTESTER_SIGNALS = next(spec for spec in BACKTESTER_CONSUMERS if spec.durable == "backtester-signals")


async def _as_provisioned_with(js: JetStreamContext, settings: Settings, spec: ConsumerSpec, *older: str) -> int:
    """Provision, then put back ``spec``'s consumer as an older version made it, with the filters ``older``; one
    message it matched is handed out and acked: the stream sequence of that message."""
    await provision(js, settings)
    await js.delete_consumer(spec.stream, spec.durable)
    await js.add_consumer(spec.stream, consumer_config(replace(spec, filter_subjects=older), settings))
    handled = await js.publish(older[0], b"{}", stream=spec.stream)
    subscription = await js.pull_subscribe_bind(spec.durable, spec.stream)
    [msg] = await subscription.fetch(1, timeout=5)
    await msg.ack_sync()
    await subscription.unsubscribe()
    return handled.seq


async def test_a_consumer_provisioned_with_an_older_filter_gets_the_new_one_and_keeps_its_place(
    nats_client: NatsClient, settings: Settings
) -> None:
    """``backtester-signals`` followed ``pipeline.signal.*`` before backtests' signals had subjects of their own."""
    js = nats_client.jetstream()
    spec = BACKTESTER_SIGNALS
    handled = await _as_provisioned_with(js, settings, spec, subjects.SIGNAL_ALL)
    await js.publish(subjects.SIGNAL_REJECTED, b"{}", stream=spec.stream)
    backtests = await js.publish(subjects.SIGNAL_GENERATED_BACKTEST, b"{}", stream=spec.stream)

    await provision(js, settings)

    info = await js.consumer_info(spec.stream, spec.durable)
    assert info.config.filter_subject == subjects.BACKTEST_SIGNAL_ALL
    assert info.ack_floor is not None
    assert info.ack_floor.stream_seq == handled
    assert info.num_pending == 1  # the backtest's signal after its place; not the live one, nor the one handled
    subscription = await js.pull_subscribe_bind(spec.durable, spec.stream)
    [msg] = await subscription.fetch(1, timeout=5)
    assert (msg.subject, msg.metadata.sequence.stream) == (subjects.SIGNAL_GENERATED_BACKTEST, backtests.seq)


async def test_a_step_consumer_provisioned_with_the_live_subject_alone_gets_the_backtests_too_and_keeps_its_place(
    nats_client: NatsClient, settings: Settings
) -> None:
    """``indicators`` followed ``pipeline.market_data.fetched`` alone before backtests' bars had a subject of their
    own; it takes both now, as JetStream's ``filter_subjects``, from where it was."""
    js = nats_client.jetstream()
    spec = STEP_CONSUMERS[Step.INDICATORS]
    handled = await _as_provisioned_with(js, settings, spec, subjects.MARKET_DATA_FETCHED)
    backtests = await js.publish(subjects.MARKET_DATA_FETCHED_BACKTEST, b"{}", stream=spec.stream)
    await js.publish(subjects.INDICATORS_COMPUTED, b"{}", stream=spec.stream)
    live = await js.publish(subjects.MARKET_DATA_FETCHED, b"{}", stream=spec.stream)

    await provision(js, settings)

    info = await js.consumer_info(spec.stream, spec.durable)
    assert (info.config.filter_subject, info.config.filter_subjects) == (
        None,
        [subjects.MARKET_DATA_FETCHED, subjects.MARKET_DATA_FETCHED_BACKTEST],
    )
    assert info.ack_floor is not None
    assert info.ack_floor.stream_seq == handled
    assert info.num_pending == 2  # the backtest's bars and the live ones after its place; not the indicators' output
    subscription = await js.pull_subscribe_bind(spec.durable, spec.stream)
    handed = await subscription.fetch(2, timeout=5)
    assert [(msg.subject, msg.metadata.sequence.stream) for msg in handed] == [
        (subjects.MARKET_DATA_FETCHED_BACKTEST, backtests.seq),
        (subjects.MARKET_DATA_FETCHED, live.seq),
    ]
