"""/api/system: services' health and the streams' consumer lag, asked of a real NATS."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import httpx
from faststream.nats import NatsBroker
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig

from tradelane.contracts import subjects
from tradelane.contracts.health import HealthReport
from tradelane.runtime.bus import EventBus
from tradelane.runtime.bus_status import expected_services


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
    await connection.flush()
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
