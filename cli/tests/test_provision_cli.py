"""`tradelane provision` against a real NATS and PostgreSQL."""

from __future__ import annotations

from nats.aio.client import Client as NatsClient

from cli.tests.conftest import Cli
from tradelane.contracts import subjects
from tradelane.runtime.settings import Settings
from tradelane.runtime.streams import ALL_CONSUMERS


async def test_provision_declares_every_stream_and_consumer(cli: Cli, nats_client: NatsClient) -> None:
    result = await cli("provision")
    assert result.code == 0, result.err
    js = nats_client.jetstream()
    for stream in (subjects.PIPELINE_STREAM, subjects.TRADING_STREAM, subjects.DEAD_LETTER_STREAM):
        assert (await js.stream_info(stream)).config.duplicate_window == 120
    for spec in ALL_CONSUMERS:
        config = (await js.consumer_info(spec.stream, spec.durable)).config
        assert (config.ack_wait, config.max_deliver) == (10, Settings().retry_rules.consumer_max_deliver())
    assert "migrations applied now: none (up to date)" in result.out


async def test_provision_twice_changes_nothing(cli: Cli) -> None:
    assert (await cli("provision")).code == 0
    assert (await cli("provision")).code == 0
