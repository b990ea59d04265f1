"""Runs every service as its own process and restarts one that dies.

A process that exits is restarted after a delay that doubles on each quick death (1 s up to
30 s) and resets once it has stayed up for a minute (:class:`~tradelane.cli.backoff.RestartBackoff`).
Stopping sends SIGTERM first to the services through which work enters (the gateway, the
scheduler) and waits for them, so nothing new arrives while the others finish; then to the
rest, waiting for them to finish their in-flight work; what is left after the grace period
is SIGKILLed.

Each process runs in a session of its own, so Ctrl-C in the terminal reaches only
``tradelane up``, which stops them in that order, not all of them at once; and each gets
SIGTERM from the kernel if the supervisor dies without stopping them (Linux).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from collections.abc import Callable, Iterable, Mapping

import structlog

from tradelane.cli.backoff import RestartBackoff
from tradelane.cli.services import ENTRY_SERVICES, module_of
from tradelane.runtime.child_processes import terminate_with_parent

log = structlog.get_logger(__name__)

STOP_GRACE_SECONDS = 20.0
"""How long a stopping process is given before it is killed, unless the supervisor is told otherwise."""


class Supervisor:
    """Starts, watches and stops a set of service processes."""

    def __init__(
        self,
        services: tuple[str, ...],
        env: Mapping[str, str],
        *,
        service_env: Mapping[str, Mapping[str, str]] | None = None,
        on_started: Callable[[str, int], None] | None = None,
        stop_grace_seconds: float = STOP_GRACE_SECONDS,
    ) -> None:
        """``env`` is every process's environment; ``service_env`` adds one service's own (its NATS identity).

        ``on_started(service, pid)`` is called each time a process starts (``tradelane up``
        keeps ``processes.json`` with it). ``stop_grace_seconds`` should exceed the services'
        own :func:`~tradelane.runtime.service.graceful_timeout`, or they are killed mid-drain.
        """
        self._stop_grace_seconds = stop_grace_seconds
        self._services = services
        self._on_started = on_started
        self._env = dict(env)
        self._service_env = {service: dict(values) for service, values in (service_env or {}).items()}
        self._processes: dict[str, asyncio.subprocess.Process] = {}
        self._stopping = False
        self.restarts: dict[str, int] = dict.fromkeys(services, 0)

    @property
    def stopping(self) -> bool:
        return self._stopping

    def pid(self, service: str) -> int | None:
        process = self._processes.get(service)
        return process.pid if process is not None and process.returncode is None else None

    async def run(self) -> None:
        """Run every service until :meth:`stop`."""
        await asyncio.gather(*(self._keep_running(service) for service in self._services))

    async def _spawn(self, service: str) -> asyncio.subprocess.Process:
        # each process binds a port of the kernel's choosing for its health endpoint (it logs the URL):
        # a fixed one would clash, and one picked free here could be taken by anything before the child binds it
        env = {**self._env, **self._service_env.get(service, {}), "TRADELANE_HEALTH_PORT": "0"}
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            module_of(service),
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=terminate_with_parent,
        )
        self._processes[service] = process
        if self._on_started is not None:
            self._on_started(service, process.pid)
        log.info("service_process_started", service=service, pid=process.pid)
        return process

    async def _keep_running(self, service: str) -> None:
        backoff = RestartBackoff()
        while not self._stopping:
            started = time.monotonic()
            process = await self._spawn(service)
            code = await process.wait()
            if self.stopping:
                return
            delay = backoff.after_death(time.monotonic() - started)
            self.restarts[service] += 1
            log.warning("service_process_exited", service=service, exit_code=code, restart_in_seconds=delay)
            await asyncio.sleep(delay)

    async def stop(self) -> None:
        """SIGTERM the entry services, wait for them; then the others; SIGKILL stragglers."""
        self._stopping = True
        entry = [service for service in self._services if service in ENTRY_SERVICES]
        await self._terminate(entry)
        await self._terminate([service for service in self._services if service not in ENTRY_SERVICES])

    async def _terminate(self, services: Iterable[str]) -> None:
        """SIGTERM the processes of ``services``, wait for them, SIGKILL those still running after the grace period."""
        candidates = (self._processes.get(service) for service in services)
        running = [process for process in candidates if process is not None and process.returncode is None]
        for process in running:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.gather(*(process.wait() for process in running)), self._stop_grace_seconds)
        except TimeoutError:
            for process in running:
                if process.returncode is None:
                    log.warning("service_process_killed", pid=process.pid)
                    process.kill()
            await asyncio.gather(*(process.wait() for process in running))
