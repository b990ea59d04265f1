"""Runs every service as its own process and restarts one that dies.

A process that exits is restarted after a delay that doubles on each quick death (1 s up to
30 s) and resets once it has stayed up for a minute. Stopping sends SIGTERM to every
process, waits for them to finish their in-flight work, then SIGKILLs what is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from collections.abc import Mapping

import structlog

from tradelane.cli.services import module_of
from tradelane.runtime.embedded import free_port

log = structlog.get_logger(__name__)

MAX_RESTART_DELAY = 30.0
HEALTHY_AFTER_SECONDS = 60.0
STOP_GRACE_SECONDS = 20.0


class Supervisor:
    """Starts, watches and stops a set of service processes."""

    def __init__(
        self,
        services: tuple[str, ...],
        env: Mapping[str, str],
        *,
        service_env: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        """``env`` is every process's environment; ``service_env`` adds one service's own (its NATS identity)."""
        self._services = services
        self._env = dict(env)
        self._service_env = {service: dict(values) for service, values in (service_env or {}).items()}
        self._processes: dict[str, asyncio.subprocess.Process] = {}
        self._stopping = False
        self.restarts: dict[str, int] = dict.fromkeys(services, 0)
        self.health_ports: dict[str, int] = {}

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
        # each process on this machine gets its own health port; a fixed one would clash
        health_port = free_port()
        env = {**self._env, **self._service_env.get(service, {}), "TRADELANE_HEALTH_PORT": str(health_port)}
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", module_of(service), env=env, stdin=asyncio.subprocess.DEVNULL
        )
        self._processes[service] = process
        self.health_ports[service] = health_port
        log.info("service_process_started", service=service, pid=process.pid, health_port=health_port)
        return process

    async def _keep_running(self, service: str) -> None:
        delay = 1.0
        while not self._stopping:
            started = time.monotonic()
            process = await self._spawn(service)
            code = await process.wait()
            if self.stopping:
                return
            if time.monotonic() - started > HEALTHY_AFTER_SECONDS:
                delay = 1.0
            self.restarts[service] += 1
            log.warning("service_process_exited", service=service, exit_code=code, restart_in_seconds=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_RESTART_DELAY)

    async def stop(self) -> None:
        """SIGTERM every process, wait for them, SIGKILL stragglers."""
        self._stopping = True
        running = [process for process in self._processes.values() if process.returncode is None]
        for process in running:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.gather(*(process.wait() for process in running)), STOP_GRACE_SECONDS)
        except TimeoutError:
            for process in running:
                if process.returncode is None:
                    log.warning("service_process_killed", pid=process.pid)
                    process.kill()
            await asyncio.gather(*(process.wait() for process in running))
