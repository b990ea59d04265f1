"""The embedded servers, killed outright, are restarted in place: same URL, same data, clients carry on."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import nats
import pytest

from tests.support.waiting import eventually
from tradelane.cli.backoff import RestartBackoff
from tradelane.cli.embedded import EmbeddedNats, EmbeddedPostgres, process_alive
from tradelane.cli.processes import ProcessRegistry, read_processes
from tradelane.cli.server_watch import keep_server_running, watched
from tradelane.store.pool import create_pool

FAST = RestartBackoff(first=0.1, ceiling=0.4, healthy_after=60.0)


async def test_a_killed_nats_comes_back_on_its_url_with_its_stream(tmp_path: Path) -> None:
    server = EmbeddedNats(tmp_path / "nats")
    url = await server.start()
    registry = ProcessRegistry(tmp_path)
    try:
        client = await nats.connect(url, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
        js = client.jetstream()
        await js.add_stream(name="KEPT", subjects=["kept.>"])
        await js.publish("kept.one", b"before the kill")
        async with watched("nats", server, registry):
            first = server.pid
            assert first is not None and read_processes(tmp_path) == {"nats": first}
            os.kill(first, signal.SIGKILL)
            await eventually(lambda: read_processes(tmp_path)["nats"] != first, "a new nats pid", timeout=15)
            assert read_processes(tmp_path) == {"nats": server.pid}
            assert server.url == url
            await eventually(lambda: client.is_connected, "the client to reconnect", timeout=15)
            await js.publish("kept.two", b"after the restart")
            assert (await js.stream_info("KEPT")).state.messages == 2
        await client.close()
    finally:
        server.stop()


async def test_a_killed_postgres_restarts_on_its_socket_and_a_pool_recovers(tmp_path: Path) -> None:
    server = EmbeddedPostgres(tmp_path / "postgres")
    dsn = await asyncio.to_thread(server.start, "healing")
    registry = ProcessRegistry(tmp_path)
    pool = await create_pool(dsn, min_size=2, max_size=2)
    try:
        await pool.execute("CREATE TABLE kept (value text)")
        await pool.execute("INSERT INTO kept VALUES ('before the kill')")
        first = server.pid
        assert first is not None
        watcher = asyncio.create_task(keep_server_running("postgres", server, registry, backoff=FAST))
        try:
            os.kill(first, signal.SIGKILL)
            await eventually(lambda: not process_alive(first), "the killed postmaster to be gone", timeout=10)
            await eventually(
                lambda: read_processes(tmp_path).get("postgres") not in (None, first), "a new postgres pid", timeout=30
            )
            # each pooled connection died with the server: the pool replaces it on its next use
            values = None
            for _attempt in range(5):
                try:
                    values = await pool.fetch("SELECT value FROM kept")
                    break
                except Exception:
                    await asyncio.sleep(0.2)
            assert values is not None and [row["value"] for row in values] == ["before the kill"]
            assert await pool.fetchval("SELECT count(*) FROM kept") == 1
        finally:
            watcher.cancel()
            with pytest.raises(asyncio.CancelledError):
                await watcher
    finally:
        await pool.close()
        server.stop()
