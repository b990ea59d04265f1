"""A webhook receiver on loopback, for tests: Apprise's ``json://`` target posts to it.

Plain HTTP/1.1 over asyncio streams. Each request takes the next scripted status (200 once the
script runs out) and is kept in ``requests`` with the status it got, so a test can tell what
was refused from what was taken.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Received:
    """One request the receiver answered: the JSON it carried and the status it got."""

    body: dict[str, Any]
    status: int


class WebhookReceiver:
    """``await start()`` returns the Apprise URL (``json://127.0.0.1:<port>/hook``) to notify."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self._statuses: list[int] = []
        self._server: asyncio.Server | None = None

    def fail_next(self, *statuses: int) -> None:
        """Answer the next requests with these statuses, in order."""
        self._statuses.extend(statuses)

    @property
    def taken(self) -> list[dict[str, Any]]:
        """Bodies of the requests answered with a 2xx."""
        return [received.body for received in self.requests if received.status < 300]

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"json://127.0.0.1:{port}/hook"

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.decode("latin-1").split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            body = json.loads(await reader.readexactly(length)) if length else {}
            status = self._statuses.pop(0) if self._statuses else 200
            self.requests.append(Received(body, status))
            writer.write(f"HTTP/1.1 {status} Scripted\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())
            await writer.drain()
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
