"""What every operator command gets: where to write, and connections opened on first use."""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self, TextIO

import asyncpg
import nats
from nats.aio.client import Client as NatsClient

from tradelane.cli.endpoints import Endpoints
from tradelane.runtime.redaction import redact
from tradelane.store.pool import create_pool

CONNECT_TIMEOUT_SECONDS = 3.0

EXIT_BAD_INPUT = 2
EXIT_UNAVAILABLE = 1
EXIT_INTERRUPTED = 130
"""Ctrl-C: the shell's code for a process ended by SIGINT."""


class CliError(Exception):
    """A command cannot do what was asked; the message says why and what to change."""

    def __init__(self, message: str, exit_code: int = EXIT_BAD_INPUT) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class Console:
    """Where a command writes: results to ``out``, progress and problems to ``err``; ``answers`` it reads."""

    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)
    answers: TextIO = field(default_factory=lambda: sys.stdin)

    def print(self, text: str = "") -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def json(self, value: Any) -> None:
        """One JSON document on one line (so output can be piped to ``jq`` line by line)."""
        self.print(json.dumps(value, default=str, separators=(",", ":")))

    def note(self, text: str) -> None:
        self.err.write(text + "\n")
        self.err.flush()

    async def confirm(self, question: str) -> bool | None:
        """Ask ``question`` on a terminal: whether the answer is yes; None off a terminal (nobody to ask).

        The answer is awaited on the event loop, not in a blocking read, so Ctrl-C ends the wait at once.
        """
        if not self.answers.isatty():
            return None
        self.err.write(f"{question} [y/N] ")
        self.err.flush()
        loop = asyncio.get_running_loop()
        typed: asyncio.Future[None] = loop.create_future()
        descriptor = self.answers.fileno()

        def readable() -> None:
            if not typed.done():
                typed.set_result(None)

        loop.add_reader(descriptor, readable)
        try:
            await typed
        finally:
            loop.remove_reader(descriptor)
        return self.answers.readline().strip().lower() in {"y", "yes"}


async def _reported_by_us(error: Exception) -> None:
    """nats-py logs each failed attempt with a traceback; the command says what failed once, plainly."""


class Connections:
    """NATS and PostgreSQL, each connected on first use and closed on exit."""

    def __init__(self, endpoints: Endpoints) -> None:
        self.endpoints = endpoints
        self.refused: list[str] = []
        """What NATS refused this command's user (a publish or subscribe outside its permissions)."""
        self._nats: NatsClient | None = None
        self._pool: asyncpg.Pool[Any] | None = None

    async def nats(self) -> NatsClient:
        if self._nats is None:
            endpoint = self.endpoints.nats
            try:
                self._nats = await nats.connect(
                    endpoint.url.split(","),
                    connect_timeout=CONNECT_TIMEOUT_SECONDS,
                    allow_reconnect=False,
                    max_reconnect_attempts=1,
                    reconnect_time_wait=0.2,
                    error_cb=self._on_error,
                    name="tradelane-cli",
                    **(self.endpoints.nats_credentials.connect_options() if self.endpoints.nats_credentials else {}),
                )
            except (OSError, TimeoutError, nats.errors.Error) as error:
                problem = redact(str(error)) or type(error).__name__
                msg = f"cannot reach NATS at {endpoint.shown} (from {endpoint.source}): {problem}"
                raise CliError(msg, EXIT_UNAVAILABLE) from error
        return self._nats

    async def _on_error(self, error: Exception) -> None:
        """NATS reports a refused publish or subscription only here, after the fact: keep it for the command's end."""
        if "permissions violation" in str(error).lower():
            self.refused.append(str(error).removeprefix("nats: "))
        else:
            await _reported_by_us(error)

    def raise_if_refused(self) -> None:
        """A :class:`CliError` naming what NATS refused, if it refused anything (the command did not do it all)."""
        if self.refused:
            credentials = self.endpoints.nats_credentials
            user = credentials.user if credentials is not None else "anonymous"
            msg = f"NATS refused user {user}: {'; '.join(self.refused)}"
            raise CliError(msg, EXIT_UNAVAILABLE)

    async def pool(self) -> asyncpg.Pool[Any]:
        if self._pool is None:
            endpoint = self.endpoints.database
            try:
                self._pool = await create_pool(endpoint.url, min_size=1, max_size=2)
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
                msg = f"cannot reach PostgreSQL at {endpoint.shown} (from {endpoint.source}): {redact(str(error))}"
                raise CliError(msg, EXIT_UNAVAILABLE) from error
        return self._pool

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._nats is not None:
            await self._nats.drain()
        if self._pool is not None:
            await self._pool.close()
