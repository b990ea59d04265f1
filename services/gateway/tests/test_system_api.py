"""/api/system: services' health, the streams' consumer lag and the notifier's settings, asked of a real NATS."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from uuid import uuid4

import httpx
import pytest
from faststream.nats import NatsBroker
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig
from pydantic import SecretStr

from services.gateway.tests.conftest import ApiToken, ClientOf, http_client
from tradelane.contracts import subjects
from tradelane.contracts.health import HealthReport
from tradelane.gateway.app import create_app
from tradelane.gateway.config import GatewaySettings
from tradelane.notifier.app import build
from tradelane.notifier.config import NotifierSettings
from tradelane.runtime.bus import EventBus
from tradelane.runtime.bus_flush import flush_queued
from tradelane.runtime.bus_status import expected_services
from tradelane.runtime.settings import Settings


async def test_each_answering_process_is_listed_and_the_silent_services_named(
    client: httpx.AsyncClient, nats_broker: NatsBroker
) -> None:
    report = HealthReport(
        service="indicators",
        version="1.2.3",
        instance="host-1:42",
        started_at=datetime(2026, 12, 1, tzinfo=UTC),
        uptime_seconds=60.0,
        ready=True,
        in_flight=0,
        handled=7,
        failed=1,
    )

    async def answer(msg: Msg) -> None:
        await msg.respond(report.model_dump_json().encode())

    connection = nats_broker.connection
    subscription = await connection.subscribe(subjects.HEALTH, cb=answer)
    await flush_queued(connection)
    try:
        response = await client.get("/api/system/services")
    finally:
        await subscription.unsubscribe()
    assert response.status_code == 200
    body = response.json()
    [process] = body["processes"]
    assert (process["service"], process["instance"], process["ready"], process["handled"], process["failed"]) == (
        "indicators",
        "host-1:42",
        True,
        7,
        1,
    )
    assert body["not_answering"] == sorted(set(expected_services()) - {"indicators"})


@pytest.fixture
async def windowed(settings: Settings, api_token: ApiToken) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway gathering health replies for 0.3 s (as TRADELANE_GATEWAY_HEALTH_WINDOW_SECONDS would set)."""
    app = create_app(GatewaySettings.model_validate({**settings.model_dump(), "gateway_health_window_seconds": 0.3}))
    async with app.router.lifespan_context(app), http_client(app, await api_token("read")) as client:
        yield client


async def test_replies_are_gathered_for_the_gateways_window_and_later_ones_left_out(
    windowed: httpx.AsyncClient, nats_broker: NatsBroker
) -> None:
    """With ``TRADELANE_GATEWAY_HEALTH_WINDOW_SECONDS=0.3``, a process answering at once is listed, one
    answering after two seconds is not."""

    def answering(service: str, after: float) -> Callable[[Msg], Awaitable[None]]:
        report = HealthReport(
            service=service,
            version="1.2.3",
            instance=f"host-1:{service}",
            started_at=datetime(2026, 12, 1, tzinfo=UTC),
            uptime_seconds=60.0,
            ready=True,
            in_flight=0,
            handled=0,
            failed=0,
        )

        async def answer(msg: Msg) -> None:
            await asyncio.sleep(after)
            await msg.respond(report.model_dump_json().encode())

        return answer

    connection = nats_broker.connection
    prompt = await connection.subscribe(subjects.HEALTH, cb=answering("indicators", 0))
    late = await connection.subscribe(subjects.HEALTH, cb=answering("signals", 2))
    await flush_queued(connection)
    try:
        response = await windowed.get("/api/system/services")
    finally:
        await prompt.unsubscribe()
        await late.unsubscribe()
    assert response.status_code == 200
    body = response.json()
    assert body["window_seconds"] == 0.3
    assert [process["service"] for process in body["processes"]] == ["indicators"]
    assert "signals" in body["not_answering"]


async def test_a_consumer_lag_counts_the_messages_it_has_not_been_given(
    client: httpx.AsyncClient, bus: EventBus
) -> None:
    js = bus.jetstream
    durable = f"lagging-{uuid4().hex[:8]}"
    await js.add_consumer(
        subjects.PIPELINE_STREAM, ConsumerConfig(durable_name=durable, filter_subject=subjects.STEP_FAILED)
    )
    for _ in range(3):
        await js.publish(subjects.STEP_FAILED, b"{}", headers={"Nats-Msg-Id": str(uuid4())})
    response = await client.get("/api/system/streams")
    assert response.status_code == 200
    streams = {stream["stream"]: stream for stream in response.json()}
    pipeline = streams[subjects.PIPELINE_STREAM]
    assert pipeline["messages"] >= 3
    assert pipeline["bytes"] > 0
    [lagging] = [consumer for consumer in pipeline["consumers"] if consumer["consumer"] == durable]
    assert (lagging["pending"], lagging["ack_pending"]) == (3, 0)
    assert subjects.DEAD_LETTER_STREAM in streams


@pytest.fixture
async def notifier(settings: Settings) -> AsyncIterator[None]:
    """A running notifier with a mail target whose password must never leave it."""
    service = build(
        NotifierSettings.model_validate(
            {
                **settings.model_dump(),
                "notify_urls": SecretStr("mailto://alerts:hunter22@example.org"),
                "notify_events": "halt,llm_budget,fill",
            }
        )
    )
    await service.start()
    yield
    await service.close()


@pytest.mark.usefixtures("notifier")
async def test_a_reader_sees_the_notifier_settings_with_secrets_masked(client_of: ClientOf) -> None:
    reader = await client_of("read")
    response = await reader.get("/api/system/notifications")
    assert response.status_code == 200, response.text
    shown = response.json()
    assert (shown["enabled"], shown["kinds"], shown["max_age_seconds"]) == (True, ["fill", "halt", "llm_budget"], 3600)
    [target] = shown["targets"]
    assert "alerts:****@example.org" in target
    assert "hunter22" not in response.text


async def test_without_a_notifier_it_is_a_503_saying_to_start_it(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/system/notifications")
    assert response.status_code == 503
    assert response.json()["detail"] == (
        "no notifier service is running to answer; start it (tradelane run notifier) and retry"
    )


async def test_a_notifier_that_does_not_answer_in_time_is_a_503_naming_it(
    client: httpx.AsyncClient, nats_client: NatsClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A subscriber that never replies stands in for a notifier stuck in its work."""
    monkeypatch.setattr("tradelane.gateway.routes.system.NOTIFIER_SECONDS", 0.2)
    silent = await nats_client.subscribe(subjects.NOTIFIER_SETTINGS)
    await flush_queued(nats_client)  # the gateway asks on its own connection
    try:
        response = await client.get("/api/system/notifications")
    finally:
        await silent.unsubscribe()
    assert response.status_code == 503
    assert response.json()["detail"].startswith("the notifier service did not answer within 0.2 s")
