"""A service asked to stop stops, even when NATS is gone: within its grace period, without a traceback."""

from __future__ import annotations

import asyncio
from pathlib import Path

from nats.aio.client import Client as NatsClient

from tests.support.waiting import consistently, eventually
from tradelane.cli.embedded import EmbeddedNats, free_port
from tradelane.contracts import subjects
from tradelane.contracts.health import HealthReport
from tradelane.runtime.service import CLOSE_MARGIN_SECONDS, Service, graceful_timeout
from tradelane.runtime.settings import Settings
from tradelane.runtime.streams import ADVISORY_CONSUMER, LINEAGE_CONSUMERS


async def test_a_stop_while_waiting_for_an_unreachable_nats_ends_the_start() -> None:
    settings = Settings(nats_url=f"nats://127.0.0.1:{free_port()}", health_port=None, ack_wait_seconds=5)
    service = Service("indicators", settings)
    running = asyncio.create_task(service.run())
    await consistently(lambda: not running.done(), "the service to keep waiting for NATS", seconds=1.5)
    service.stop()
    async with asyncio.timeout(graceful_timeout(settings)):
        await running
    assert not service.is_ready()


async def test_a_started_service_whose_nats_died_stops_within_its_grace_period(tmp_path: Path) -> None:
    server = EmbeddedNats(tmp_path / "nats")
    settings = Settings(nats_url=await server.start(), health_port=None, ack_wait_seconds=5)
    service = Service("indicators", settings)
    running = asyncio.create_task(service.run())
    try:
        await eventually(service.is_ready, "the service to be ready", timeout=20)
    finally:
        server.stop()
    service.stop()
    async with asyncio.timeout(graceful_timeout(settings) + CLOSE_MARGIN_SECONDS):
        await running


async def test_a_service_that_answered_a_request_closes_with_several_pull_consumers(
    nats_url: str, nats_credentials_file: Path | None, nats_client: NatsClient
) -> None:
    """Answering a core NATS request, then stopping several pull subscribers and the lag probe, cannot hang close."""
    settings = Settings(
        nats_url=nats_url,
        nats_credentials_file=nats_credentials_file,
        health_port=None,
        consumer_lag_interval_seconds=0.1,
    )
    for _ in range(3):
        service = Service("lineage", settings, report_failures=False)
        for spec in (*LINEAGE_CONSUMERS, ADVISORY_CONSUMER):
            service.subscriber(spec)(_ignore)
        await service.start()
        reply = await nats_client.request(subjects.health_of("lineage"), b"", timeout=5)
        assert HealthReport.model_validate_json(reply.data).ready
        await asyncio.wait_for(service.close(), 10)
        assert not service.is_ready()


async def _ignore(body: dict[str, object]) -> None:
    """A subscriber that is never given anything: the test is about stopping, not consuming."""
