"""flush_queued returns only once the server has read the SUB made before it; nats-py's flush() alone does not.

A real nats-server traces every command it reads (``-DV``), so the tests read the order off its log.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import nats

from tests.support.waiting import eventually
from tradelane.cli.embedded import free_port, nats_server_binary
from tradelane.runtime.bus_flush import flush_queued

SUBJECT = "probe.order"
_READ = re.compile(r"<<- \[(\w+)")


@asynccontextmanager
async def traced_server(directory: Path) -> AsyncIterator[tuple[str, Path]]:
    """A nats-server (no users, no JetStream) that logs every command it reads; its URL and log file."""
    port = free_port()
    log_file = directory / "nats-trace.log"
    process = subprocess.Popen(
        [str(nats_server_binary()), "-a", "127.0.0.1", "-p", str(port), "-DV", "-l", str(log_file)],
        stdin=subprocess.DEVNULL,
    )
    try:
        await eventually(lambda: "Server is ready" in _text(log_file), "the traced nats-server to be ready")
        yield f"nats://127.0.0.1:{port}", log_file
    finally:
        process.kill()
        process.wait()


def _text(log_file: Path) -> str:
    return log_file.read_text() if log_file.exists() else ""


def _read_before_the_last_ping(log_file: Path) -> list[str]:
    """The commands the server read from its (one) client up to the last PING, in order."""
    commands = _READ.findall(_text(log_file))
    last_ping = len(commands) - 1 - commands[::-1].index("PING")
    return commands[:last_ping]


async def test_flush_queued_returns_after_the_server_has_read_the_subscription(tmp_path: Path) -> None:
    async with traced_server(tmp_path) as (url, log_file):
        client = await nats.connect(url)
        try:
            await client.subscribe(SUBJECT)
            await flush_queued(client)
            # the PONG that ended the wait answered a PING read after the SUB
            assert "SUB" in _read_before_the_last_ping(log_file)
        finally:
            await client.close()


async def test_nats_py_flush_alone_answers_before_the_server_has_read_the_subscription(tmp_path: Path) -> None:
    """Why flush_queued exists: should nats-py send its PING behind the queued commands, this fails, and a
    single ``flush()`` would do again."""
    async with traced_server(tmp_path) as (url, log_file):
        client = await nats.connect(url)
        try:
            await client.subscribe(SUBJECT)
            await client.flush()
            assert "SUB" not in _read_before_the_last_ping(log_file)
        finally:
            await client.close()
