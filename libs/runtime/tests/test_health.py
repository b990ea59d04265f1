"""A service's probes, metrics and bus health reports, against a real NATS server."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import httpx
import pytest
from nats.aio.client import Client as NatsClient
from prometheus_client import REGISTRY

from tests.support.http import refusal
from tests.support.waiting import eventually
from tradelane.contracts import subjects
from tradelane.contracts.events import ExecutionRequested, StepFailed, Trigger
from tradelane.contracts.health import HealthReport
from tradelane.contracts.strategy import StrategyDefinition, SymbolRef
from tradelane.contracts.subjects import Step
from tradelane.runtime.bus import dedup_headers
from tradelane.runtime.errors import PermanentStepError
from tradelane.runtime.service import Service
from tradelane.runtime.settings import Settings


@pytest.fixture
async def service(nats_url: str, nats_credentials_file: Path | None) -> AsyncIterator[Service]:
    settings = Settings(
        nats_url=nats_url,
        nats_credentials_file=nats_credentials_file,
        health_port=0,
        consumer_lag_interval_seconds=0.2,
    )
    service = Service("market-data", settings)

    async def refuse(msg: ExecutionRequested) -> StepFailed:
        raise PermanentStepError("refused on purpose")

    service.step(Step.MARKET_DATA)(refuse)
    await service.start()
    yield service
    await service.close()


def _health_url(service: Service, path: str) -> str:
    assert service._health_server is not None
    return f"http://127.0.0.1:{service._health_server.port}{path}"


async def test_probes_answer_over_http(service: Service) -> None:
    async with httpx.AsyncClient() as client:
        assert (await client.get(_health_url(service, "/livez"))).status_code == 200
        ready = await client.get(_health_url(service, "/readyz"))
        assert ready.status_code == 200
        assert ready.json()["ready"] is True
        assert "no /nope; try /livez, /readyz, /metrics" in refusal(
            await client.get(_health_url(service, "/nope")), 404
        )


async def test_readiness_is_false_after_close(nats_url: str, nats_credentials_file: Path | None) -> None:
    service = Service(
        "indicators", Settings(nats_url=nats_url, nats_credentials_file=nats_credentials_file, health_port=0)
    )
    await service.start()
    assert service.is_ready()
    await service.close()
    assert not service.is_ready()


async def test_every_process_answers_the_bus_health_request(service: Service, nats_client: NatsClient) -> None:
    reply = await nats_client.request(subjects.HEALTH, b"", timeout=2)
    report = HealthReport.model_validate_json(reply.data)
    assert (report.service, report.ready) == ("market-data", True)
    by_name = await nats_client.request(subjects.health_of("market-data"), b"", timeout=2)
    assert HealthReport.model_validate_json(by_name.data).instance == report.instance


async def test_metrics_count_outcomes_and_lag(service: Service, nats_client: NatsClient) -> None:
    labels = {"service": "market-data", "subject": subjects.EXECUTION_REQUESTED, "outcome": "given_up"}
    given_up_before = REGISTRY.get_sample_value("tradelane_messages_total", labels) or 0.0
    request = ExecutionRequested(
        execution_id=uuid4(),
        strategy_id=uuid4(),
        strategy=StrategyDefinition(name="s", symbol=SymbolRef(symbol="AAPL")),
        trigger=Trigger.MANUAL,
        as_of=datetime(2026, 11, 20, tzinfo=UTC),
    )
    await nats_client.jetstream().publish(
        subjects.EXECUTION_REQUESTED, request.model_dump_json().encode(), headers=dedup_headers(request)
    )
    await eventually(lambda: service.stats.failed, "the step to fail", timeout=5)
    assert (service.stats.failed, service.stats.in_flight) == (1, 0)
    no_lag = 'tradelane_consumer_pending{consumer="market-data"} 0.0'

    async def metrics_without_lag() -> str | None:
        async with httpx.AsyncClient() as client:
            text = (await client.get(_health_url(service, "/metrics"))).text
        return text if no_lag in text else None

    text = await eventually(metrics_without_lag, "the metrics to show the consumer without lag", timeout=5)
    assert "tradelane_messages_total{" in text
    assert REGISTRY.get_sample_value("tradelane_messages_total", labels) == given_up_before + 1
    assert no_lag in text
    report = HealthReport.model_validate(json.loads((await nats_client.request(subjects.HEALTH, b"")).data))
    assert report.failed == 1
