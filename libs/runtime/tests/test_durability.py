"""The embedded servers run with the durability tradelane chose, read back from the running servers."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import httpx

from tradelane.runtime.embedded import POSTGRES_DURABILITY, EmbeddedNats, EmbeddedPostgres, free_port


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
