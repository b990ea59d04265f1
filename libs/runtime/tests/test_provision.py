"""``provision`` on a server an older version provisioned: the JetStream data stays, consumers take the new layout."""

from __future__ import annotations

from dataclasses import replace

from nats.aio.client import Client as NatsClient

from tradelane.contracts import subjects
from tradelane.runtime.settings import Settings
from tradelane.runtime.streams import BACKTESTER_CONSUMERS, consumer_config, provision

BACKTESTER_SIGNALS = next(spec for spec in BACKTESTER_CONSUMERS if spec.durable == "backtester-signals")


async def test_a_consumer_provisioned_with_an_older_filter_gets_the_new_one_and_keeps_its_place(
    nats_client: NatsClient, settings: Settings
) -> None:
    """``backtester-signals`` followed ``pipeline.signal.*`` before backtests' signals had subjects of their own."""
    js = nats_client.jetstream()
    await provision(js, settings)
    spec = BACKTESTER_SIGNALS
    await js.delete_consumer(spec.stream, spec.durable)
    await js.add_consumer(spec.stream, consumer_config(replace(spec, filter_subject=subjects.SIGNAL_ALL), settings))
    handled = await js.publish(subjects.SIGNAL_GENERATED, b"{}", stream=spec.stream)
    subscription = await js.pull_subscribe_bind(spec.durable, spec.stream)
    [msg] = await subscription.fetch(1, timeout=5)
    await msg.ack_sync()
    await subscription.unsubscribe()
    await js.publish(subjects.SIGNAL_REJECTED, b"{}", stream=spec.stream)
    backtests = await js.publish(subjects.SIGNAL_GENERATED_BACKTEST, b"{}", stream=spec.stream)

    await provision(js, settings)

    info = await js.consumer_info(spec.stream, spec.durable)
    assert info.config.filter_subject == subjects.BACKTEST_SIGNAL_ALL
    assert info.ack_floor is not None
    assert info.ack_floor.stream_seq == handled.seq
    assert info.num_pending == 1  # the backtest's signal after its place; not the live one, nor the one handled
    subscription = await js.pull_subscribe_bind(spec.durable, spec.stream)
    [msg] = await subscription.fetch(1, timeout=5)
    assert (msg.subject, msg.metadata.sequence.stream) == (subjects.SIGNAL_GENERATED_BACKTEST, backtests.seq)
