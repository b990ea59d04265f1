"""A scheduler burst: ``--strategies`` active strategies due in the same minute.

The strategies are stored first (cron ``M * * * *`` for one minute ``M`` far enough ahead,
their time zones spread over zones a whole number of hours from UTC, so every one is due
at the same instant); then the scheduler starts as its own process, as ``tradelane up``
runs it, on an embedded NATS and PostgreSQL, loads them, and fires at the due time.

Measured from the stream, not from a subscriber that could fall behind: each stored
``ExecutionRequested`` carries JetStream's timestamp of when the server stored it, so the
delays are those timestamps minus the due time (seconds to the last publish, the median,
the first). Every strategy must get exactly one request. The scheduler's resident memory is
read from ``/proc``: just before the due time (its runs built), after the burst, and its peak.

One burst per ``--sync-intervals``, each on servers of its own: ``always`` as tradelane runs
JetStream (every message flushed to disk before its acknowledgement, so a slow or shared disk
shows), and nats-server's default ``2m``, which leaves the scheduler and the server's CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final
from uuid import UUID

import nats
from nats.aio.client import Client as NatsClient
from nats.js.api import AckPolicy, ConsumerConfig

from bench.common import embedded_servers, machine, write_results
from tradelane.cli.supervisor import Supervisor
from tradelane.contracts import subjects
from tradelane.contracts.strategy import Schedule, StrategyDefinition, SymbolRef
from tradelane.runtime.logging import configure_logging
from tradelane.runtime.settings import Settings
from tradelane.store.pool import create_pool
from tradelane.store.strategies import StrategyRepository

TIME_ZONES: Final = ("UTC", "America/New_York", "Europe/London", "Asia/Tokyo", "Europe/Berlin", "America/Chicago")
"""Zones a whole number of hours from UTC: ``M * * * *`` in each is due at the same instant."""

HEAD_START_SECONDS: Final = 35.0
"""The least time the scheduler must run before the due time: it loads the schedule at once and
builds the runs 30 s ahead (a few seconds' work for 10,000 on two busy cores)."""

STORE_CONCURRENCY: Final = 8
"""Strategies stored at once while setting up (the pool's connections)."""


def process_memory_mb(pid: int) -> dict[str, float]:
    """A process's resident memory now (``VmRSS``) and at its peak so far (``VmHWM``), in MB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return {name: round(int(fields[name].split()[0]) / 1024, 1) for name in ("VmRSS", "VmHWM")}


def due_minute(lead_seconds: float) -> datetime:
    """The first whole minute at least ``lead_seconds`` from now (aware UTC)."""
    earliest = datetime.now(UTC) + timedelta(seconds=lead_seconds)
    minute = earliest.replace(second=0, microsecond=0)
    return minute if minute >= earliest else minute + timedelta(minutes=1)


async def store_strategies(database_url: str, count: int, due: datetime) -> None:
    """``count`` active strategies, every one due at ``due`` (and then hourly)."""
    pool = await create_pool(database_url, max_size=STORE_CONCURRENCY)
    strategies = StrategyRepository(pool)
    queue = iter(range(count))

    async def store_next() -> None:
        for index in queue:
            schedule = Schedule(cron=f"{due.minute} * * * *", timezone=TIME_ZONES[index % len(TIME_ZONES)])
            await strategies.create(
                StrategyDefinition(name=f"burst-{index:05d}", symbol=SymbolRef(symbol="AAPL"), schedule=schedule)
            )

    try:
        await asyncio.gather(*(store_next() for _ in range(STORE_CONCURRENCY)))
    finally:
        await pool.close()


async def stored_requests(client: NatsClient, expected: int, deadline: float) -> int:
    """Wait until the stream holds ``expected`` requests (or the deadline passes); how many it holds."""
    js = client.jetstream()
    while True:
        held = (await js.stream_info(subjects.PIPELINE_STREAM)).state  # the scheduler is its only publisher
        if held.messages >= expected or time.monotonic() > deadline:
            return held.messages
        await asyncio.sleep(0.5)


async def publish_delays(client: NatsClient, due: datetime) -> tuple[list[float], dict[UUID, int]]:
    """Seconds from ``due`` to each stored request's stream timestamp, and the requests per strategy."""
    js = client.jetstream()
    consumer = await js.pull_subscribe(
        subjects.EXECUTION_REQUESTED,
        stream=subjects.PIPELINE_STREAM,
        config=ConsumerConfig(ack_policy=AckPolicy.NONE),  # read only: no 1,000 unacknowledged cap
    )
    delays: list[float] = []
    per_strategy: dict[UUID, int] = {}
    with contextlib.suppress(TimeoutError):  # nats-py raises asyncio.TimeoutError once the stream is read
        while True:
            for msg in await consumer.fetch(1000, timeout=1):
                body = json.loads(msg.data)
                if datetime.fromisoformat(body["scheduled_for"]) != due:
                    continue
                delays.append((msg.metadata.timestamp - due).total_seconds())
                strategy_id = UUID(body["strategy_id"])
                per_strategy[strategy_id] = per_strategy.get(strategy_id, 0) + 1
    await consumer.unsubscribe()
    return delays, per_strategy


async def watch_memory(pid: int, due: datetime, samples: dict[str, dict[str, float]]) -> None:
    """Keep ``samples['loaded']`` up to date until just before ``due``."""
    while datetime.now(UTC) < due - timedelta(seconds=0.5):
        samples["loaded"] = process_memory_mb(pid)
        await asyncio.sleep(0.25)


async def burst(settings: Settings, args: argparse.Namespace) -> dict[str, Any]:
    due = due_minute(args.lead_seconds)
    stored_at = time.monotonic()
    await store_strategies(settings.database_url.get_secret_value(), args.strategies, due)
    store_seconds = time.monotonic() - stored_at
    env = {
        **os.environ,
        "TRADELANE_NATS_URL": settings.nats_url,
        "TRADELANE_DATABASE_URL": settings.database_url.get_secret_value(),
        "TRADELANE_LOG_LEVEL": "WARNING",
        "TRADELANE_LOG_FORMAT": "json",
    }
    supervisor = Supervisor(("scheduler",), env)
    running = asyncio.create_task(supervisor.run())
    client = await nats.connect(settings.nats_url)
    memory: dict[str, dict[str, float]] = {}
    try:
        await asyncio.sleep(0.5)
        pid = supervisor.pid("scheduler")
        if pid is None:
            raise RuntimeError("the scheduler process did not start")
        started_before_due = (due - datetime.now(UTC)).total_seconds()
        if started_before_due < HEAD_START_SECONDS:
            msg = f"the scheduler started only {started_before_due:.1f} s before the due time; raise --lead-seconds"
            raise RuntimeError(msg)
        await watch_memory(pid, due, memory)
        load_at_due = os.getloadavg()[0]
        seconds_left = (due - datetime.now(UTC)).total_seconds()
        held = await stored_requests(client, args.strategies, time.monotonic() + seconds_left + args.timeout_seconds)
        memory["after"] = process_memory_mb(pid)
        delays, per_strategy = await publish_delays(client, due)
    finally:
        await client.close()
        await supervisor.stop()
        await running
    if not delays:
        raise RuntimeError(f"no request for {due.isoformat()} within {args.timeout_seconds} s of it")
    return {
        "due": due.isoformat(),
        "load_average_1m_at_due": round(load_at_due, 2),
        "seconds_to_store_strategies": round(store_seconds, 1),
        "scheduler_started_seconds_before_due": round(started_before_due, 1),
        "requests_stored": held,
        "strategies_requested": len(per_strategy),
        "strategies_requested_twice_or_more": sum(1 for count in per_strategy.values() if count > 1),
        "seconds_to_first_publish": round(min(delays), 3),
        "seconds_to_median_publish": round(statistics.median(delays), 3),
        "seconds_to_last_publish": round(max(delays), 3),
        "scheduler_rss_mb_loaded": memory["loaded"]["VmRSS"],
        "scheduler_rss_mb_after": memory["after"]["VmRSS"],
        "scheduler_rss_mb_peak": memory["after"]["VmHWM"],
    }


async def on_servers(workdir: Path, sync_interval: str, args: argparse.Namespace) -> dict[str, Any]:
    """One burst on an embedded NATS (JetStream flushed to disk every ``sync_interval``) and PostgreSQL of its own."""
    async with embedded_servers(workdir, sync_interval) as settings:
        return {"sync_interval": sync_interval, **await burst(settings, args)}


async def main(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="tradelane-bench-burst-"))
    bursts = [await on_servers(workdir / sync_interval, sync_interval, args) for sync_interval in args.sync_intervals]
    return {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "strategies": args.strategies,
        "bursts": bursts,
    }


ROWS: Final = (
    ("load average (1 min) at the due time", "load_average_1m_at_due"),
    ("scheduler started before the due time, s", "scheduler_started_seconds_before_due"),
    ("seconds from the due time to the first ExecutionRequested stored", "seconds_to_first_publish"),
    ("seconds to the median one", "seconds_to_median_publish"),
    ("**seconds to the last one**", "seconds_to_last_publish"),
    ("strategies requested", "strategies_requested"),
    ("strategies requested more than once", "strategies_requested_twice_or_more"),
    ("scheduler RSS with the runs built, just before the due time, MB", "scheduler_rss_mb_loaded"),
    ("scheduler RSS after the burst, MB", "scheduler_rss_mb_after"),
    ("**scheduler peak RSS, MB**", "scheduler_rss_mb_peak"),
)


def markdown(result: dict[str, Any]) -> str:
    machine = result["machine"]
    bursts = result["bursts"]
    return "\n".join(
        [
            f"# Scheduler burst ({result['measured_at']}, {machine['cpus']} CPUs, "
            f"load average {machine['load_average_1m']} at the end)",
            "",
            f"Machine: {machine['platform']}, Python {machine['python']}. "
            "Produced by `make bench` (`python -m bench.scheduler_burst`).",
            "",
            f"{result['strategies']} active strategies due in the same minute; the scheduler runs as its own "
            "process, as `tradelane up` runs it. Delays are JetStream's stored timestamps minus the due time. "
            "`always` is how tradelane runs JetStream (every message on disk before its acknowledgement), "
            "`2m` is nats-server's default: what is left without the disk. Other work on the machine "
            "slows both (load average below).",
            "",
            "| JetStream sync_interval | " + " | ".join(str(burst["sync_interval"]) for burst in bursts) + " |",
            "| --- |" + " --- |" * len(bursts),
            *(f"| {title} | " + " | ".join(str(burst[key]) for burst in bursts) + " |" for title, key in ROWS),
            "",
        ]
    )


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--strategies", type=int, default=10_000)
    parser.add_argument(
        "--lead-seconds", type=float, default=60.0, help="at least this long from start to the due time"
    )
    parser.add_argument("--timeout-seconds", type=float, default=120.0, help="how long after the due time to wait")
    parser.add_argument(
        "--sync-intervals",
        nargs="+",
        default=["always", "2m"],
        help="one burst per JetStream sync_interval (each on servers of its own)",
    )
    args = parser.parse_args()
    configure_logging("WARNING", "json")
    result = asyncio.run(main(args))
    write_results("scheduler_burst", result, markdown(result))


if __name__ == "__main__":
    cli()
