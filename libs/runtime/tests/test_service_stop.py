"""A service asked to stop stops, even when NATS is gone: within its grace period, without a traceback."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tradelane.cli.embedded import EmbeddedNats, free_port
from tradelane.runtime.service import CLOSE_MARGIN_SECONDS, Service, graceful_timeout
from tradelane.runtime.settings import Settings


async def test_a_stop_while_waiting_for_an_unreachable_nats_ends_the_start() -> None:
    settings = Settings(nats_url=f"nats://127.0.0.1:{free_port()}", health_port=None, ack_wait_seconds=5)
    service = Service("indicators", settings)
    running = asyncio.create_task(service.run())
    await asyncio.sleep(1.5)
    assert not running.done(), "the service should still be waiting for NATS"
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
        async with asyncio.timeout(20):
            while not service.is_ready():
                await asyncio.sleep(0.05)
    finally:
        server.stop()
    service.stop()
    async with asyncio.timeout(graceful_timeout(settings) + CLOSE_MARGIN_SECONDS):
        await running
