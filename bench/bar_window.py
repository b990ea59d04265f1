"""A backtest's bar window in market-data: the cost of reading it from the stored history and of storing it.

The hourly backtest (``bench.backtest``'s ``hourly_offline``) makes one decision per hour of BTC, each reading the
720 hourly bars (30 D) that end at its decision time: consecutive windows share 719 bars. This benchmark slides
such a window one hour at a time, as the backtest's decisions do, through the two calls market-data makes per
decision: reading it from the stored history (an embedded PostgreSQL, filled by one provider request before the
measurement) and ``PayloadStore.put_bars`` (chunks in an embedded NATS's object store). It does so three times,
each with a payload store of its own: reading each window whole (``covers`` and ``bars`` of the repository, as
the stored history did before it kept windows); with ``StoredHistory.lead_and_bars``, which reads the bars after
the last window only and hands the shared bars back as the same objects (whose chunks the payload store then
names without encoding them), its lead left out of ``put_bars``; and with the lead given to ``put_bars``, as
market-data stores a backtest decision's window now: the bars before it in its oldest chunk's period, so that
``put_bars`` keeps that chunk whole and consecutive windows share it. For each call: the wall time, the CPU of
this process and the CPU of PostgreSQL's processes (of NATS's for ``put_bars``), per call.

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
from tradelane.contracts import subjects
from tradelane.contracts.market import Bar, ResolvedSymbol
from tradelane.contracts.strategy import BarSize, duration_seconds
from tradelane.market_data.simulated import SimulatedProvider
from tradelane.market_data.stored_history import StoredHistory
from tradelane.runtime.bus import EventBus
from tradelane.runtime.payloads import PayloadStore
from tradelane.runtime.service import create_broker
from tradelane.store.bar_history import BarHistoryRepository, BarSeries
from tradelane.store.pool import create_pool

FIRST_DECISION = datetime(2025, 3, 1, tzinfo=UTC)
CLOCK = datetime(2026, 1, 1, tzinfo=UTC)
"""The stored history's now: long after the decisions, so that every fetch reaches its 2000 bars ahead."""
STORED_FROM = FIRST_DECISION - timedelta(days=4)
"""The end of the window whose fetch fills the store: early enough that the first window's lead is stored too."""

Read = Callable[[datetime], Awaitable[tuple[tuple[Bar, ...], tuple[Bar, ...]]]]
"""A way of reading the window that ends at a time: its lead (the bars before it kept in its oldest chunk) and it."""


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
                repository = BarHistoryRepository(pool, provider.name)
                stored = StoredHistory(provider, repository, clock=lambda: CLOCK)
                series = BarSeries(symbol.conid, BarSize.HOUR_1, HOURLY.what_to_show, HOURLY.use_rth)
                window = timedelta(seconds=duration_seconds(HOURLY.duration))

                async def kept(end: datetime) -> tuple[tuple[Bar, ...], tuple[Bar, ...]]:
                    _, bars = await stored.lead_and_bars(symbol, BarSize.HOUR_1, HOURLY.duration, end)
                    return (), bars

                async def with_lead(end: datetime) -> tuple[tuple[Bar, ...], tuple[Bar, ...]]:
                    return await stored.lead_and_bars(symbol, BarSize.HOUR_1, HOURLY.duration, end)

                async def whole(end: datetime) -> tuple[tuple[Bar, ...], tuple[Bar, ...]]:
                    if not await repository.covers(series, end - window, end):
                        raise AssertionError(end)  # every window is inside the one stored span
                    return (), await repository.bars(series, end - window, end)

                await kept(STORED_FROM)  # the one provider request, stored
                paths = {
                    name: await sliding(calls, read, PayloadStore(EventBus(broker)), symbol, servers)
                    for name, read in (("whole", whole), ("kept", kept), ("lead", with_lead))
                }
            finally:
                await broker.stop()
                await pool.close()
    return {"machine": machine(), "calls": calls, "bars_per_window": 720, **paths}


async def sliding(
    calls: int,
    read: Read,
    payloads: PayloadStore,
    symbol: ResolvedSymbol,
    servers: dict[str, int],
) -> dict[str, dict[str, float]]:
    """Per call, reading ``calls`` windows each an hour after the last with ``read``, then putting them (into an
    empty payload bucket, as the other path's chunks would otherwise be found there already)."""
    await payloads.bus.jetstream.purge_stream(f"OBJ_{subjects.PAYLOAD_BUCKET}")
    windows = [await read(FIRST_DECISION)]

    async def next_window(index: int) -> None:
        windows.append(await read(FIRST_DECISION + timedelta(hours=index + 1)))
        if len(windows[-1][1]) != 720:
            raise AssertionError(len(windows[-1][1]))

    async def put(index: int) -> None:
        lead, bars = windows[index + 1]
        await payloads.put_bars(symbol.conid, BarSize.HOUR_1, bars, lead=lead)

    reads = await measured(calls, next_window, servers, "postgres")
    lead, bars = windows[0]
    await payloads.put_bars(symbol.conid, BarSize.HOUR_1, bars, lead=lead)  # every chunk of the first window stored
    objects_before = await stored_objects(payloads)
    puts = await measured(calls, put, servers, "nats-server")
    written = await stored_objects(payloads) - objects_before
    return {"read": reads, "put_bars": {**puts, "objects_written": round(written / 2 / calls, 2)}}


async def stored_objects(payloads: PayloadStore) -> int:
    """Messages in the payload bucket's stream: two per object (its chunk and its info)."""
    info = await payloads.bus.jetstream.stream_info(f"OBJ_{subjects.PAYLOAD_BUCKET}")
    assert info.state is not None
    return int(info.state.messages)


def markdown(result: dict[str, Any]) -> str:
    rows = []
    for path, label in (
        ("whole", "read whole (as before)"),
        ("kept", "`StoredHistory.lead_and_bars`, its lead left out (kept windows)"),
        ("lead", "`StoredHistory.lead_and_bars` (kept windows and their lead)"),
    ):
        reads, puts = result[path]["read"], result[path]["put_bars"]
        rows.append(
            f"| {label} | {reads['wall_ms']} | {reads['process_cpu_ms']} | {reads['postgres_cpu_ms']} (PostgreSQL) | |"
        )
        rows.append(
            f"| then `put_bars` | {puts['wall_ms']} | {puts['process_cpu_ms']} | {puts['nats-server_cpu_ms']} (NATS)"
            f" | {puts['objects_written']} |"
        )
    return (
        "# A backtest's bar window in market-data\n\n"
        f"{result['calls']} hourly windows of {result['bars_per_window']} bars, each one hour after the last, per "
        f"call (machine: {result['machine']}).\n\n"
        "| call | wall ms | this process CPU ms | server CPU ms | objects written |\n"
        "|---|---|---|---|---|\n" + "\n".join(rows) + "\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000, help="windows measured per call (default 1000)")
    args = parser.parse_args()
    result = asyncio.run(run(args.calls))
    write_results("bar_window", result, markdown(result))


if __name__ == "__main__":
    main()
