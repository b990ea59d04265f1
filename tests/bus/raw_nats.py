"""A NATS client that sends exact bytes: the header block as given, as a foreign or broken producer would.

nats-py builds header blocks from ``str`` values and refuses names it does not like, so it cannot
send a header that is not UTF-8 or a name no client would write. This client speaks the protocol
over a plain socket: ``HPUB`` with the header block as bytes, and waits for JetStream's answer on a
reply subject of its own. Every answer that arrives there is returned, so a second responder (a
subscriber that replies to a stream publish) shows up instead of hiding behind the stream's ack.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse
from uuid import uuid4

_CRLF = b"\r\n"


class PublishRefusedError(Exception):
    """The server refused the publish (its ``-ERR``), or JetStream answered with an error."""


@dataclass(frozen=True)
class Stored:
    """Where JetStream stored a published message, and whether it was a duplicate it dropped."""

    stream: str
    sequence: int
    duplicate: bool


def header_block(headers: list[tuple[bytes, bytes]]) -> bytes:
    """``NATS/1.0`` and one ``name: value`` line per header, as the protocol frames them."""
    return b"NATS/1.0\r\n" + b"".join(name + b": " + value + _CRLF for name, value in headers) + _CRLF


class RawPublisher:
    """One connection that publishes raw messages to JetStream subjects and reads the acks."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, max_payload: int) -> None:
        self._reader = reader
        self._writer = writer
        self.max_payload = max_payload
        self._inbox = f"_INBOX.test.raw.{uuid4().hex}"

    @classmethod
    async def connect(cls, url: str, options: dict[str, Any]) -> RawPublisher:
        """Connect to the first server of ``url`` with the user and password of ``options`` (nats-py's keywords)."""
        address = urlparse(url.split(",", maxsplit=1)[0])
        reader, writer = await asyncio.open_connection(address.hostname, address.port, limit=64 * 1024 * 1024)
        info = json.loads((await reader.readline()).removeprefix(b"INFO ").strip())
        connect = {"verbose": False, "pedantic": False, "headers": True, "no_responders": True, "protocol": 1}
        if "user" in options:
            connect |= {"user": options["user"], "pass": options["password"]}
        writer.write(b"CONNECT " + json.dumps(connect).encode() + _CRLF + b"PING" + _CRLF)
        publisher = cls(reader, writer, int(info["max_payload"]))
        await publisher._until_pong()
        writer.write(f"SUB {publisher._inbox}.* 1".encode() + _CRLF)
        return publisher

    async def publish(self, subject: str, headers: bytes | None, body: bytes, timeout: float = 10) -> Stored:
        """Publish ``body`` with the header block ``headers`` (None: no headers) and return JetStream's ack.

        Raises :class:`PublishRefusedError` when the server or JetStream refuses it, and
        ``AssertionError`` when anything but one JetStream ack answers.
        """
        size = len(body) + len(headers or b"")
        if size > self.max_payload:
            raise PublishRefusedError(f"{size} bytes exceed max_payload {self.max_payload}")
        reply = f"{self._inbox}.{uuid4().hex}"
        if headers is None:
            command = f"PUB {subject} {reply} {len(body)}".encode()
        else:
            command = f"HPUB {subject} {reply} {len(headers)} {size}".encode()
        self._writer.write(command + _CRLF + (headers or b"") + body + _CRLF + b"PING" + _CRLF)
        answers = await asyncio.wait_for(self._answers_until_ack(reply), timeout)
        ack = answers[-1]
        assert len(answers) == 1, f"{len(answers)} answers to one publish on {subject}: {answers!r}"
        if "error" in ack:
            raise PublishRefusedError(str(ack["error"]))
        return Stored(ack["stream"], int(ack["seq"]), bool(ack.get("duplicate", False)))

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(ConnectionError):
            await self._writer.wait_closed()

    async def _answers_until_ack(self, reply: str) -> list[dict[str, Any]]:
        """Messages on ``reply`` up to JetStream's ack (anything unreadable is kept as ``{"raw": ...}``)."""
        answers: list[dict[str, Any]] = []
        while True:
            line = await self._reader.readline()
            if line.startswith(b"-ERR"):
                raise PublishRefusedError(line.decode(errors="replace").strip())
            if line.startswith(b"PING"):
                self._writer.write(b"PONG" + _CRLF)
                continue
            if not line.startswith((b"MSG ", b"HMSG ")):
                continue
            fields = line.split()
            total = int(fields[-1])
            data = (await self._reader.readexactly(total + 2))[:-2]
            if fields[1].decode() != reply:
                continue
            headers_length = int(fields[-2]) if fields[0] == b"HMSG" else 0
            payload = data[headers_length:]
            try:
                answer = json.loads(payload)
            except ValueError:
                answer = {"raw": data.decode(errors="replace")}
            answers.append(answer if isinstance(answer, dict) else {"raw": answer})
            if "stream" in answers[-1] or "error" in answers[-1]:
                # let a second responder, if any, answer too before the ack is taken as the only one
                await asyncio.sleep(0.02)
                answers.extend(await self._pending_answers(reply))
                return answers

    async def _pending_answers(self, reply: str) -> list[dict[str, Any]]:
        late: list[dict[str, Any]] = []
        while True:
            try:
                line = await asyncio.wait_for(self._reader.readline(), 0.001)
            except TimeoutError:
                return late
            if line.startswith(b"PING"):
                self._writer.write(b"PONG" + _CRLF)
            elif line.startswith((b"MSG ", b"HMSG ")):
                fields = line.split()
                data = (await self._reader.readexactly(int(fields[-1]) + 2))[:-2]
                if fields[1].decode() == reply:
                    late.append({"raw": data.decode(errors="replace")})

    async def _until_pong(self) -> None:
        while True:
            line = await self._reader.readline()
            if line.startswith(b"-ERR"):
                raise PublishRefusedError(line.decode(errors="replace").strip())
            if line.startswith(b"PONG"):
                return
