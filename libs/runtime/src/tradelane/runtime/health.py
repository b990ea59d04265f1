"""How a service process says it is alive: HTTP probes, Prometheus metrics, and the bus.

HTTP (for Kubernetes and compose): ``GET /livez`` answers 200 while the process runs,
``GET /readyz`` 200 once it is connected to NATS with its streams provisioned (503 before),
``GET /metrics`` the Prometheus metrics. It is a deliberately tiny HTTP/1.0 responder:
three fixed GET routes do not justify a web framework in every worker.

Bus: every process answers requests on ``tradelane.health`` and ``tradelane.health.<service>``
with a ``HealthReport`` (``tradelane status`` gathers them).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
from collections.abc import Callable
from datetime import UTC, datetime

import structlog

from tradelane.contracts.health import HealthReport
from tradelane.runtime.metrics import METRICS_CONTENT_TYPE, ServiceStats, render_metrics

log = structlog.get_logger(__name__)

_REASONS = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}


class HealthState:
    """What the probes report: the process's stats and whether it is ready."""

    def __init__(self, service: str, version: str, stats: ServiceStats, is_ready: Callable[[], bool]) -> None:
        self.service = service
        self.version = version
        self.stats = stats
        self.is_ready = is_ready
        self.started_at = datetime.now(UTC)
        self.instance = f"{socket.gethostname()}:{os.getpid()}"

    def report(self) -> HealthReport:
        return HealthReport(
            service=self.service,
            version=self.version,
            instance=self.instance,
            started_at=self.started_at,
            uptime_seconds=round((datetime.now(UTC) - self.started_at).total_seconds(), 3),
            ready=self.is_ready(),
            in_flight=self.stats.in_flight,
            handled=self.stats.handled,
            failed=self.stats.failed,
        )


class HealthServer:
    """The HTTP probe and metrics endpoint of one process."""

    def __init__(self, state: HealthState, host: str, port: int) -> None:
        self._state = state
        self._host = host
        self._port = port
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        """The bound port (the ephemeral one when asked for port 0)."""
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self._host, self._port)
        log.info("health_endpoint_started", url=f"http://{self._host}:{self.port}")

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def _answer(self, method: str, path: str) -> tuple[int, str, bytes]:
        if method != "GET":
            return 405, "text/plain", b"only GET\n"
        if path == "/livez":
            return 200, "application/json", b'{"status":"alive"}\n'
        if path == "/readyz":
            report = self._state.report()
            status = 200 if report.ready else 503
            return status, "application/json", report.model_dump_json().encode() + b"\n"
        if path == "/metrics":
            return 200, METRICS_CONTENT_TYPE, render_metrics()
        return 404, "application/json", json.dumps({"detail": f"no {path}; try /livez, /readyz, /metrics"}).encode()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError, TimeoutError, ValueError):
            request_line = await asyncio.wait_for(reader.readline(), 5)
            parts = request_line.decode("latin-1").split()
            method, path = (parts[0], parts[1].split("?", 1)[0]) if len(parts) >= 2 else ("", "")
            while (await asyncio.wait_for(reader.readline(), 5)) not in (b"\r\n", b"\n", b""):
                pass
            status, content_type, body = self._answer(method, path)
            head = (
                f"HTTP/1.0 {status} {_REASONS[status]}\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            writer.write(head.encode("latin-1") + body)
            await writer.drain()
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
