"""What handlers take from FastStream's context reaches them without a worker thread."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import anyio.to_thread
import pytest
from nats.aio.client import Client as NatsClient

from tests.support.waiting import eventually
from tradelane.contracts import subjects
from tradelane.runtime.injection import Context, NatsMessage
from tradelane.runtime.service import Service
from tradelane.runtime.settings import Settings
from tradelane.runtime.streams import LINEAGE_CONSUMERS

PIPELINE = next(spec for spec in LINEAGE_CONSUMERS if spec.stream == subjects.PIPELINE_STREAM)


@pytest.fixture
def worker_thread_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The functions run in anyio's worker threads from now on (fast_depends' ``run_in_threadpool`` goes there)."""
    calls: list[str] = []
    run_sync = anyio.to_thread.run_sync

    async def counted(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        target = func.func if isinstance(func, functools.partial) else func
        calls.append(getattr(target, "__qualname__", repr(target)))
        return await run_sync(func, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counted)
    return calls


async def test_context_parameters_are_looked_up_on_the_event_loop(
    nats_url: str, nats_credentials_file: Path | None, nats_client: NatsClient, worker_thread_calls: list[str]
) -> None:
    settings = Settings(nats_url=nats_url, nats_credentials_file=nats_credentials_file, health_port=None)
    service = Service("lineage", settings, report_failures=False)
    received: list[tuple[str, str]] = []

    @service.on_start
    async def open_dependency() -> None:
        service.context.set_global("greeting", "hello")

    @service.subscriber(PIPELINE)
    async def handle(
        body: dict[str, object], message: NatsMessage, greeting: Annotated[str, Context("greeting")]
    ) -> None:
        received.append((message.raw_message.subject, greeting))

    await service.start()
    try:
        for _ in range(3):
            await nats_client.jetstream().publish(subjects.EXECUTION_REQUESTED, b'{"a": 1}')
        await eventually(lambda: len(received) == 3, "three messages handled", timeout=5)
    finally:
        await service.close()
    assert received == [(subjects.EXECUTION_REQUESTED, "hello")] * 3
    assert worker_thread_calls == []
