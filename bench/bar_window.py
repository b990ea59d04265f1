"""A backtest's bar window in market-data: the cost of reading it from the stored history and of storing it.

The hourly backtest (``bench.backtest``'s ``hourly_offline``) makes one decision per hour of BTC, each reading the
720 hourly bars (30 D) that end at its decision time: consecutive windows share 719 bars. This benchmark slides
such a window one hour at a time, as the backtest's decisions do, through the two calls market-data makes per
decision: ``StoredHistory.bars`` (stored history in an embedded PostgreSQL, filled by one provider request before
the measurement) and ``PayloadStore.put_bars`` (chunks in an embedded NATS's object store). For each, per call:
the wall time, the CPU of this process and the CPU of PostgreSQL's processes (of NATS's for ``put_bars``).

Writes ``bench/results/bar_window.json`` and ``bench/results/bar_window.md``.
Run with ``python -m bench.bar_window`` (``make bench`` runs it too).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.backtest import BTC, HOURLY, server_roots
from bench.common import ProcessTable, embedded_servers, machine, write_results
from tradelane.contracts.market import Bar, ResolvedSymbol
from tradelane.contracts.strategy import BarSize
from tradelane.market_data.simulated import SimulatedProvider
from tradelane.market_data.stored_history import StoredHistory
from tradelane.runtime.bus import EventBus
from tradelane.runtime.payloads import PayloadStore
from tradelane.runtime.service import create_broker
from tradelane.store.bar_history import BarHistoryRepository
from tradelane.store.pool import create_pool

FIRST_DECISION = datetime(2025, 3, 1, tzinfo=UTC)
CLOCK = datetime(2026, 1, 1, tzinfo=UTC)
"""The stored history's now: long after the decisions, so that every fetch reaches its 2000 bars ahead."""


async def measured(
    calls: int, call: Callable[[int], Awaitable[object]], servers: dict[str, int], server: str
) -> dict[str, float]:
    """Milliseconds per call of ``call(0) .. call(calls - 1)``: wall, this process's CPU, ``server``'s CPU."""
    before = ProcessTable.read()
    root = servers[server]
    server_before = before.cpu_seconds_of(before.tree(root))
    wall, cpu = time.perf_counter(), time.process_time()
    for index in range(calls):
        await call(index)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    after = ProcessTable.read()
    server_cpu = after.cpu_seconds_of(after.tree(root)) - server_before
    return {
        "wall_ms": round(wall / calls * 1000, 3),
        "process_cpu_ms": round(cpu / calls * 1000, 3),
        f"{server}_cpu_ms": round(server_cpu / calls * 1000, 3),
    }


async def run(calls: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="tradelane-bar-window-") as directory:
        workdir = Path(directory)
        async with embedded_servers(workdir) as settings:
            servers = server_roots(workdir)
            provider = SimulatedProvider()
            symbol: ResolvedSymbol = await provider.resolve(BTC)
            pool = await create_pool(settings.database_url.get_secret_value())
            broker = create_broker(settings, "bench")
            await broker.connect()
            try:
                stored = StoredHistory(provider, BarHistoryRepository(pool, provider.name), clock=lambda: CLOCK)
                payloads = PayloadStore(EventBus(broker))
                windows: list[tuple[Bar, ...]] = []

                async def read(index: int) -> None:
                    end = FIRST_DECISION + timedelta(hours=index)
                    windows.append(await stored.bars(symbol, BarSize.HOUR_1, HOURLY.duration, end))

                async def put(index: int) -> None:
                    await payloads.put_bars(symbol.conid, BarSize.HOUR_1, windows[index + 1])

                await read(-1)  # the one provider request, stored; and the first window
                reads = await measured(calls, read, servers, "postgres")
                await payloads.put_bars(symbol.conid, BarSize.HOUR_1, windows[0])  # every chunk stored once
                puts = await measured(calls, put, servers, "nats-server")
                sizes = {len(window) for window in windows}
            finally:
                await broker.stop()
                await pool.close()
    return {
        "machine": machine(),
        "calls": calls,
        "bars_per_window": sorted(sizes),
        "stored_history_bars": reads,
        "put_bars": puts,
    }


def markdown(result: dict[str, Any]) -> str:
    reads, puts = result["stored_history_bars"], result["put_bars"]
    return (
        "# A backtest's bar window in market-data\n\n"
        f"{result['calls']} hourly windows of {result['bars_per_window']} bars, each one hour after the last "
        f"(machine: {result['machine']}).\n\n"
        "| call | wall ms | this process CPU ms | server CPU ms |\n"
        "|---|---|---|---|\n"
        f"| `StoredHistory.bars` | {reads['wall_ms']} | {reads['process_cpu_ms']} | "
        f"{reads['postgres_cpu_ms']} (PostgreSQL) |\n"
        f"| `PayloadStore.put_bars` | {puts['wall_ms']} | {puts['process_cpu_ms']} | "
        f"{puts['nats-server_cpu_ms']} (NATS) |\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000, help="windows measured per call (default 1000)")
    args = parser.parse_args()
    result = asyncio.run(run(args.calls))
    write_results("bar_window", result, markdown(result))


if __name__ == "__main__":
    main()
