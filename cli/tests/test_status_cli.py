"""`tradelane status` against a real NATS: services answering on the bus, streams, lag, dead letters."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from nats.aio.client import Client as NatsClient

from cli.tests.conftest import Cli
from tradelane.contracts import subjects
from tradelane.contracts.events import BarsFetched, ExecutionRequested
from tradelane.contracts.subjects import Step
from tradelane.runtime.bus_status import gather_health
from tradelane.runtime.service import Service
from tradelane.runtime.settings import Settings


@pytest.fixture
async def market_data(settings: Settings) -> AsyncIterator[Service]:
    service = Service("market-data", settings)

    async def refuse(msg: ExecutionRequested) -> BarsFetched:
        raise AssertionError("not reached")

    service.step(Step.MARKET_DATA)(refuse)
    await service.start()
    yield service
    await service.close()


async def test_every_process_that_answers_is_gathered(market_data: Service, nats_client: NatsClient) -> None:
    reports = await gather_health(nats_client)
    assert [(r.service, r.ready) for r in reports] == [("market-data", True)]


async def test_status_shows_who_answers_the_streams_the_lag_and_the_dead_letters(
    cli: Cli, market_data: Service, nats_client: NatsClient
) -> None:
    js = nats_client.jetstream()
    body = b'{"execution_id": "x"}'
    await js.publish(subjects.MARKET_DATA_FETCHED, body)
    await js.publish(subjects.dead_letter(subjects.EXECUTION_REQUESTED), body)
    result = await cli("status", "--json")
    assert result.code == 0, result.err
    status = json.loads(result.out)
    assert [s["service"] for s in status["services"]] == ["market-data"]
    assert "indicators" in status["not_answering"]
    streams = {s["stream"]: s for s in status["streams"]}
    assert streams["PIPELINE"]["messages"] == 1
    consumers = {c["consumer"]: c for c in streams["PIPELINE"]["consumers"]}
    assert consumers["indicators"]["pending"] == 1
    assert consumers["market-data"]["pending"] == 0
    assert status["dead_letters"] == 1


async def test_status_reads_as_text(cli: Cli, market_data: Service) -> None:
    result = await cli("status")
    assert result.code == 0, result.err
    assert "services answering on the bus within 0.5 s: 1" in result.out
    assert "market-data" in result.out
    [missing] = [line for line in result.lines if line.startswith("not answering: ")]
    assert {"indicators", "lineage", "scheduler"} <= set(missing.removeprefix("not answering: ").split(", "))
    assert "dead letters: 0" in result.out
