"""The embedded servers run with the durability tradelane chose and keep the state directory private."""

from __future__ import annotations

import stat
from pathlib import Path

import asyncpg
import httpx

from tradelane.cli.embedded import POSTGRES_DURABILITY, EmbeddedNats, EmbeddedPostgres, free_port
from tradelane.runtime.private_files import make_private_dir


async def test_the_embedded_jetstream_syncs_every_message_before_acknowledging_it(tmp_path: Path) -> None:
    server = EmbeddedNats(tmp_path / "nats", monitor_port=free_port())
    await server.start()
    try:
        async with httpx.AsyncClient() as http:
            varz = (await http.get(f"http://{server.host}:{server.monitor_port}/varz")).raise_for_status().json()
    finally:
        server.stop()
    assert varz["jetstream"]["config"].get("sync_always") is True, varz["jetstream"]["config"]


async def test_the_embedded_postgres_commits_to_disk_even_when_its_postgresql_conf_says_otherwise(
    tmp_path: Path,
) -> None:
    server = EmbeddedPostgres(tmp_path / "postgres")
    server.start()
    server.stop()
    with (tmp_path / "postgres" / "postgresql.conf").open("a", encoding="utf-8") as conf:
        conf.write("fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n")
    dsn = server.start()
    try:
        connection = await asyncpg.connect(dsn)
        rows = await connection.fetch(
            "SELECT name, setting FROM pg_settings WHERE name = ANY($1::text[])", list(POSTGRES_DURABILITY)
        )
        await connection.close()
    finally:
        server.stop()
    assert {row["name"]: row["setting"] for row in rows} == {
        "fsync": "on",
        "synchronous_commit": "on",
        "full_page_writes": "on",
    }


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_embedded_servers_keep_the_state_directory_private_and_still_work(tmp_path: Path) -> None:
    """Run as root, embedded-postgres opens every parent of its data to everyone; the state directory is put back.

    The server must still reach its files by absolute path (a checkpoint does), and stop cleanly.
    """
    state = make_private_dir(tmp_path / "state")
    nats = EmbeddedNats(state / "nats")
    postgres = EmbeddedPostgres(state / "postgres")
    try:
        await nats.start()
        dsn = postgres.start("tradelane")
        connection = await asyncpg.connect(dsn)
        await connection.execute("CHECKPOINT")
        await connection.close()
        assert _mode(state) & 0o066 == 0, oct(_mode(state))  # others may at most pass through
        assert _mode(state / "nats") == 0o700
    finally:
        nats.stop()
        postgres.stop()
    assert not (state / "postgres" / "postmaster.pid").exists(), "the server stopped cleanly"
