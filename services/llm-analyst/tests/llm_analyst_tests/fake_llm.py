"""A fake OpenAI-compatible server on loopback, for tests: the real ``openai`` client talks to it.

It implements ``POST /v1/chat/completions`` over plain HTTP/1.1 (asyncio streams, no web
framework) and answers from a script: each request takes the next :class:`Scripted` reply -
an answer, an HTTP error with headers (``429`` with ``Retry-After``), or a slow reply that
makes the client time out. It can refuse ``json_schema`` (and JSON mode) with a 400, as servers
without structured outputs do, without consuming the script. Every request body is kept in
``requests`` for assertions on the request shape.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from typing import Any

_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 429: "Too Many Requests"}


@dataclass(frozen=True)
class Scripted:
    """One scripted reply: a 200 with ``content``, or an error ``status`` with ``message``."""

    status: int = 200
    content: str | None = None
    message: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    """Seconds to wait before answering (longer than the client's timeout makes it time out)."""
    tokens_in: int = 1200
    tokens_out: int = 300


def answer(body: dict[str, Any] | str, *, delay: float = 0.0, tokens_in: int = 1200, tokens_out: int = 300) -> Scripted:
    """A 200 whose message content is ``body`` (a dict is sent as its JSON)."""
    content = body if isinstance(body, str) else json.dumps(body)
    return Scripted(content=content, delay=delay, tokens_in=tokens_in, tokens_out=tokens_out)


def failure(status: int, message: str = "scripted failure", headers: dict[str, str] | None = None) -> Scripted:
    """An error answer in OpenAI's shape (``{"error": {"message": ...}}``)."""
    return Scripted(status=status, message=message, headers=dict(headers or {}))


class FakeLlmServer:
    """The fake server; ``await start()`` returns the base URL to give the openai client."""

    def __init__(self, *, supports_json_schema: bool = True, supports_json_object: bool = True) -> None:
        self.supports_json_schema = supports_json_schema
        self.supports_json_object = supports_json_object
        self.requests: list[dict[str, Any]] = []
        self._script: list[Scripted] = []
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self.base_url = ""
        self.in_flight = 0
        self.max_in_flight = 0
        """The most requests the server was answering at once."""

    def script(self, *replies: Scripted) -> None:
        """Queue replies; each request takes the next one (a 500 once they run out)."""
        self._script.extend(replies)

    def script_next(self, *replies: Scripted) -> None:
        """Put replies before the queued ones: the next requests take them (a fault injected mid-script)."""
        self._script[:0] = replies

    @property
    def pending(self) -> int:
        """Scripted replies not used yet."""
        return len(self._script)

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}/v1"
        return self.base_url

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            while await self._exchange(reader, writer):
                pass
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                await writer.wait_closed()

    async def _exchange(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Answer one request; False when the client closed the connection."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return False
        request_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers = {
            name.strip().lower(): value.strip()
            for name, _, value in (line.partition(":") for line in header_lines if line)
        }
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        _, path, _ = request_line.split(" ", 2)
        if path.rstrip("/") != "/v1/chat/completions":
            await _respond(writer, 404, _error(f"no route {path}"))
            return True
        request = json.loads(body)
        self.requests.append(request)
        refused = self._refused_format(request)
        if refused is not None:
            await _respond(writer, 400, _error(f"response_format type {refused} is not supported by this server"))
            return True
        scripted = self._script.pop(0) if self._script else failure(500, "the fake server has no scripted reply left")
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if scripted.delay:
                await asyncio.sleep(scripted.delay)
        finally:
            self.in_flight -= 1
        if scripted.status != 200:
            await _respond(writer, scripted.status, _error(scripted.message), scripted.headers)
            return True
        await _respond(writer, 200, _completion(request, scripted), scripted.headers)
        return True

    def _refused_format(self, request: dict[str, Any]) -> str | None:
        kind = (request.get("response_format") or {}).get("type")
        if kind == "json_schema" and not self.supports_json_schema:
            return "json_schema"
        if kind == "json_object" and not self.supports_json_object:
            return "json_object"
        return None


def _completion(request: dict[str, Any], scripted: Scripted) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-fake-{id(scripted):x}",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": request.get("model", "fake"),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": scripted.content, "refusal": None},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": scripted.tokens_in,
            "completion_tokens": scripted.tokens_out,
            "total_tokens": scripted.tokens_in + scripted.tokens_out,
        },
    }


def _error(message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": None}}


async def _respond(
    writer: asyncio.StreamWriter, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> None:
    data = json.dumps(body).encode()
    lines = [
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}",
        "Content-Type: application/json",
        f"Content-Length: {len(data)}",
        *(f"{name}: {value}" for name, value in (headers or {}).items()),
    ]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + data)
    await writer.drain()
