"""A service's background tasks, and stopping them without hanging the service's stop.

A task that loops until cancelled may not end when cancelled: on Python 3.11,
``asyncio.wait_for`` (under nats-py's requests and publishes) can return its result instead
of raising ``CancelledError`` when the cancel lands just after the result arrived (CPython
gh-86296; see :mod:`tradelane.runtime.consumer_lag`). So a periodic chore also watches a stop
event, and stopping waits a bounded time, then says which task is still running and moves on.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import structlog

log = structlog.get_logger(__name__)

STOP_WAIT_SECONDS = 6.0
"""How long stopping waits for the tasks to end after cancelling them."""


class BackgroundTasks:
    """Tasks a service runs beside its subscribers: started at its start, stopped at its stop."""

    def __init__(self) -> None:
        self._tasks: list[asyncio.Task[None]] = []
        self._stopped = asyncio.Event()

    def start(self, work: Coroutine[Any, Any, None], name: str) -> None:
        """Run ``work`` until it returns or the tasks are stopped."""
        self._tasks.append(asyncio.create_task(work, name=name))

    def every(
        self, seconds: float, chore: Callable[[], Awaitable[object]], name: str, *, at_once: bool = False
    ) -> None:
        """Run ``chore`` every ``seconds`` (first at once, or after ``seconds``) until stopped.

        A failing run is logged and the next one runs.
        """
        self.start(self._repeat(seconds, chore, name, at_once=at_once), name)

    async def _repeat(
        self, seconds: float, chore: Callable[[], Awaitable[object]], name: str, *, at_once: bool
    ) -> None:
        if at_once:
            await self._run_once(chore, name)
        while not self._stopped.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(seconds):
                    await self._stopped.wait()
                return
            await self._run_once(chore, name)

    @staticmethod
    async def _run_once(chore: Callable[[], Awaitable[object]], name: str) -> None:
        try:
            await chore()
        except Exception as error:  # a chore runs again next time; one failure must not end the loop
            log.warning("background_chore_failed", chore=name, error=f"{type(error).__name__}: {error}")

    async def stop(self, wait_seconds: float = STOP_WAIT_SECONDS) -> None:
        """Ask every task to end, cancel them, and wait at most ``wait_seconds`` for them."""
        self._stopped.set()
        for task in self._tasks:
            task.cancel()
        if not self._tasks:
            return
        _, pending = await asyncio.wait(self._tasks, timeout=wait_seconds)
        for task in pending:
            log.error("background_task_still_running_at_stop", task=task.get_name(), waited_seconds=wait_seconds)
