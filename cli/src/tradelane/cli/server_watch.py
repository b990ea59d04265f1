"""Keeps ``tradelane up``'s embedded NATS and PostgreSQL running: a server that dies is restarted.

The servers are not children the supervisor waits on (PostgreSQL's postmaster is detached by
``pg_ctl``), so each is watched by polling whether its process still runs. A dead one is
restarted in place (same data, same port or socket) after a :class:`RestartBackoff` delay;
the services reconnect to it on their own, and JetStream and PostgreSQL recover what they
had made durable.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Protocol

import structlog

from tradelane.cli.backoff import RestartBackoff
from tradelane.cli.processes import ProcessRegistry

log = structlog.get_logger(__name__)

POLL_SECONDS = 0.5


class RestartableServer(Protocol):
    @property
    def pid(self) -> int | None:
        """The server's process id while it runs, else None."""

    async def restart(self) -> None:
        """Start the server again, in place, and return once it accepts connections."""


async def keep_server_running(
    name: str,
    server: RestartableServer,
    registry: ProcessRegistry,
    *,
    backoff: RestartBackoff | None = None,
    poll_seconds: float = POLL_SECONDS,
) -> None:
    """Restart ``server`` each time it dies, until cancelled; ``registry`` learns each new pid."""
    backoff = backoff or RestartBackoff()
    started = time.monotonic()
    while True:
        await asyncio.sleep(poll_seconds)
        if _alive(server):
            continue
        delay = backoff.after_death(time.monotonic() - started)
        log.warning("server_process_died", server=name, restart_in_seconds=delay)
        await asyncio.sleep(delay)
        started = time.monotonic()
        try:
            await server.restart()
        except Exception as error:
            log.error("server_restart_failed", server=name, error=f"{type(error).__name__}: {error}")
            continue
        if server.pid is not None:
            registry.started(name, server.pid)
        log.warning("server_process_restarted", server=name, pid=server.pid)


def _alive(server: RestartableServer) -> bool:
    return server.pid is not None


@asynccontextmanager
async def watched(name: str, server: RestartableServer, registry: ProcessRegistry) -> AsyncIterator[None]:
    """Record ``server``'s pid and keep it running while the block runs; no restart after it."""
    if server.pid is not None:
        registry.started(name, server.pid)
    watcher = asyncio.create_task(keep_server_running(name, server, registry), name=f"watch-{name}")
    try:
        yield
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
