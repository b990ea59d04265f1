"""Run the ``tradelane`` command in-process against this test's servers, capturing what it prints."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tradelane.cli.context import Console
from tradelane.cli.main import main
from tradelane.runtime.settings import Settings


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str

    @property
    def lines(self) -> list[str]:
        return self.out.splitlines()


Cli = Callable[..., Coroutine[Any, Any, Result]]


class LiveConsole(Console):
    """A console whose output a test can read while the command still runs."""

    def __init__(self) -> None:
        super().__init__(out=io.StringIO(), err=io.StringIO())

    def notes(self) -> str:
        """What the command wrote to stderr so far."""
        assert isinstance(self.err, io.StringIO)
        return self.err.getvalue()


@pytest.fixture
def cli(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """``await cli("dlq", "list")``: the command with this test's NATS and PostgreSQL, in a worker thread.

    Its state directory is the test's own (a test may point it elsewhere): the checkout's ``.state`` holds
    what a ``tradelane up`` running there wrote (its endpoints, its gateway's URL, its token).
    """
    monkeypatch.setenv("TRADELANE_STATE_DIR", str(tmp_path / "state"))

    async def run(*argv: str, console: LiveConsole | None = None) -> Result:
        console = console or LiveConsole()
        connection = ["--nats-url", settings.nats_url, "--database-url", settings.database_url.get_secret_value()]
        if settings.nats_credentials_file is not None:
            connection += ["--nats-credentials", str(settings.nats_credentials_file)]
        code = await asyncio.to_thread(main, [*argv, *connection], console)
        assert isinstance(console.out, io.StringIO) and isinstance(console.err, io.StringIO)
        return Result(code, console.out.getvalue(), console.err.getvalue())

    return run
