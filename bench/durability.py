"""What durability costs on this machine: JetStream's ``sync_interval`` and PostgreSQL's ``synchronous_commit``.

tradelane runs JetStream with ``sync_interval: always`` and PostgreSQL with
``synchronous_commit = on`` (``tradelane.cli.embedded``, docker-compose.yml, deploy/k8s),
so that nothing acknowledged or committed is lost to a power cut. This measures the price,
each side against the setting that is fast and not durable:

1. JetStream: ``--messages`` publishes of ``--payload-bytes`` to a file-store stream on an
   embedded NATS with nats-server's default (``2m``) and with ``always``, one at a time and
   ``--in-flight`` at once, timing each publish until its acknowledgement;
2. PostgreSQL: ``--inserts`` one-row transactions on the embedded PostgreSQL with
   ``synchronous_commit`` off and on, one at a time and ``--in-flight`` at once.

Writes ``bench/results/durability.json`` and ``bench/results/durability.md``.
Run with ``make bench`` (``python -m bench.durability``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import nats
from nats.js.api import StorageType, StreamConfig

from bench.common import machine, write_results
from bench.pipeline import summary
from tradelane.cli.embedded import EmbeddedNats, EmbeddedPostgres, free_port
from tradelane.runtime.logging import configure_logging
from tradelane.store.pool import create_pool

NATS_DEFAULT_SYNC_INTERVAL = "2m"
"""nats-server's own default: the file store is flushed every two minutes."""

BENCH_STREAM = "BENCH_DURABILITY"
BENCH_TABLE = "bench_durability"


async def timed_load(operation: Callable[[int], Awaitable[object]], count: int, in_flight: int) -> dict[str, Any]:
    """Run ``operation(0..count-1)`` with ``in_flight`` at a time; each one's latency and the rate overall."""
    latencies: list[float] = []
    next_index = 0

    async def worker() -> None:
        nonlocal next_index
        while next_index < count:
            index = next_index
            next_index += 1
            started = time.perf_counter()
            await operation(index)
            latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    elapsed = time.perf_counter() - started
    return {**summary(latencies), "in_flight": in_flight, "per_second": round(count / elapsed, 1)}


async def running_sync_interval(monitoring_url: str) -> str:
    """The sync interval a running nats-server reports in ``/varz``: ``always``, or a duration such as ``2m``."""
    async with httpx.AsyncClient() as http:
        config = (await http.get(f"{monitoring_url}/varz")).raise_for_status().json()["jetstream"]["config"]
    if config.get("sync_always"):
        return "always"
    minutes, seconds = divmod(config["sync_interval"] // 1_000_000_000, 60)
    return f"{minutes}m" if seconds == 0 else f"{config['sync_interval'] / 1e9:g}s"


async def jetstream_publishes(
    store_dir: Path, sync_interval: str, messages: int, payload_bytes: int, in_flight: int
) -> list[dict[str, Any]]:
    """Publishes to a file-store stream on a NATS server of its own with ``sync_interval``, serial then concurrent."""
    server = EmbeddedNats(store_dir, sync_interval=sync_interval, monitor_port=free_port())
    try:
        client = await nats.connect(await server.start())
        running = await running_sync_interval(f"http://{server.host}:{server.monitor_port}")
        if running != sync_interval:
            msg = f"asked nats-server for sync_interval {sync_interval}, it runs with {running}"
            raise RuntimeError(msg)
        js = client.jetstream()
        await js.add_stream(StreamConfig(name=BENCH_STREAM, subjects=["bench.durability"], storage=StorageType.FILE))
        payload = os.urandom(payload_bytes)  # incompressible, as a page of bars is to the disk

        async def publish(_index: int) -> None:
            await js.publish("bench.durability", payload)

        await timed_load(publish, min(100, messages), 1)  # warm-up: the first block file, the connection
        rows = [
            {"setting": sync_interval, **await timed_load(publish, messages, 1)},
            {"setting": sync_interval, **await timed_load(publish, messages, in_flight)},
        ]
        await client.close()
    finally:
        server.stop()
    return rows


async def postgres_inserts(dsn: str, synchronous_commit: str, inserts: int, in_flight: int) -> list[dict[str, Any]]:
    """One-row transactions with ``synchronous_commit`` set for the session, serial then concurrent."""
    pool = await create_pool(dsn, min_size=in_flight, max_size=in_flight)
    try:
        async with pool.acquire() as connection:
            await connection.execute(f"CREATE TABLE IF NOT EXISTS {BENCH_TABLE} (id bigserial PRIMARY KEY, body text)")

        async def insert(index: int) -> None:
            async with pool.acquire() as connection, connection.transaction():
                await connection.execute(f"SET LOCAL synchronous_commit = {synchronous_commit}")
                await connection.execute(f"INSERT INTO {BENCH_TABLE} (body) VALUES ($1)", f"row {index}")

        await timed_load(insert, min(100, inserts), 1)  # warm-up
        return [
            {"setting": synchronous_commit, **await timed_load(insert, inserts, 1)},
            {"setting": synchronous_commit, **await timed_load(insert, inserts, in_flight)},
        ]
    finally:
        await pool.close()


def file_system_of(directory: Path) -> str:
    """The mount point and type of the file system holding ``directory`` (a tmpfs would make fsync free)."""
    mounts = Path("/proc/self/mounts")
    if not mounts.exists():
        return "unknown (no /proc/self/mounts)"
    resolved = directory.resolve()
    best = ("", "unknown")
    for line in mounts.read_text().splitlines():
        _device, mount_point, fs_type, *_ = line.split()
        if resolved.is_relative_to(mount_point) and len(mount_point) > len(best[0]):
            best = (mount_point, fs_type)
    return f"{best[1]} mounted on {best[0]}"


async def main(args: argparse.Namespace) -> dict[str, Any]:
    # the disk tradelane up writes to (its .state is under the working directory), not /tmp
    workdir = Path(tempfile.mkdtemp(prefix=".bench-durability-", dir=args.dir))
    try:
        jetstream = []
        for sync_interval in (NATS_DEFAULT_SYNC_INTERVAL, "always"):
            jetstream += await jetstream_publishes(
                workdir / f"nats-{sync_interval}", sync_interval, args.messages, args.payload_bytes, args.in_flight
            )
        embedded_postgres = EmbeddedPostgres(workdir / "postgres")
        dsn = embedded_postgres.start("tradelane")
        try:
            postgres = []
            for synchronous_commit in ("off", "on"):
                postgres += await postgres_inserts(dsn, synchronous_commit, args.inserts, args.in_flight)
        finally:
            embedded_postgres.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "disk": f"{args.dir.resolve()}, {file_system_of(args.dir)}",
        "payload_bytes": args.payload_bytes,
        "jetstream_sync_interval": jetstream,
        "postgres_synchronous_commit": postgres,
    }


def _table(title: str, rows: list[dict[str, Any]], unit: str) -> list[str]:
    return [
        f"| {title} | in flight | n | {unit}/s | p50 ms | p99 ms | max ms |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        *(
            f"| {row['setting']} | {row['in_flight']} | {row['n']} | {row['per_second']} "
            f"| {row['p50_ms']} | {row['p99_ms']} | {row['max_ms']} |"
            for row in rows
        ),
    ]


def _cost(rows: list[dict[str, Any]], fast: str, durable: str) -> str:
    """The durable setting's rate as a share of the fast one's, serial and concurrent."""
    shares = []
    for in_flight in sorted({row["in_flight"] for row in rows}):
        by_setting = {row["setting"]: row for row in rows if row["in_flight"] == in_flight}
        share = by_setting[durable]["per_second"] / by_setting[fast]["per_second"]
        shares.append(f"{share:.0%} with {in_flight} in flight")
    return f"Rate with `{durable}` as a share of the rate with `{fast}`: " + ", ".join(shares) + "."


def markdown(result: dict[str, Any]) -> str:
    jetstream, postgres = result["jetstream_sync_interval"], result["postgres_synchronous_commit"]
    return "\n".join(
        [
            f"# Durability benchmark ({result['measured_at']}, {result['machine']['cpus']} CPUs, "
            f"load average {result['machine']['load_average_1m']} at the end)",
            "",
            f"Disk: {result['disk']}. Produced by `make bench` (`python -m bench.durability`).",
            "",
            f"## JetStream publish to a file-store stream ({result['payload_bytes']} bytes, one server)",
            "",
            *_table("sync_interval", jetstream, "msgs"),
            "",
            _cost(jetstream, NATS_DEFAULT_SYNC_INTERVAL, "always"),
            "",
            "## PostgreSQL one-row insert transactions",
            "",
            *_table("synchronous_commit", postgres, "commits"),
            "",
            _cost(postgres, "off", "on"),
            "",
            "tradelane publishes about seven messages and writes a few lineage rows per execution;",
            "bench/results/pipeline.md has the executions per second the pipeline sustains.",
            "",
        ]
    )


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--messages", type=int, default=2000, help="JetStream publishes per setting and load")
    parser.add_argument("--payload-bytes", type=int, default=4096)
    parser.add_argument("--inserts", type=int, default=2000, help="PostgreSQL transactions per setting and load")
    parser.add_argument("--in-flight", type=int, default=16, help="concurrent publishers or connections")
    parser.add_argument("--dir", type=Path, default=Path(), help="where the servers write (default: here)")
    args = parser.parse_args()
    configure_logging("WARNING", "json")
    result = asyncio.run(main(args))
    write_results("durability", result, markdown(result))


if __name__ == "__main__":
    cli()
