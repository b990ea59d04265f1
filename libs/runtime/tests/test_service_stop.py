"""A service asked to stop stops, even when NATS is gone: within its grace period, without a traceback."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.support.waiting import consistently, eventually
from tradelane.cli.embedded import EmbeddedNats, free_port
from tradelane.runtime.service import CLOSE_MARGIN_SECONDS, Service, graceful_timeout
from tradelane.runtime.settings import Settings


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
