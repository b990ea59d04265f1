"""End-to-end benchmark of the pipeline on this machine.

Measures, in one run, with every service as its own process (as ``tradelane up`` runs them),
for each workload of :data:`WORKLOADS` (daily, intraday, multi-timeframe):

1. latency from run request to signal, p50/p99, with and without the chart PNG;
2. sustained executions per second with and without the PNG, over ``--sustain-seconds`` each;
3. bytes stored per execution: PostgreSQL (every table, indexes and TOAST included), the
   JetStream streams and the object stores (charts and payloads), as the growth over the PNG
   runs divided by their number, each taken once the services have nothing pending;
4. the largest pipeline message (its body, in bytes, and its subject; payloads travel by reference);
5. each service's resident memory (RSS) after the workload;

and once, the bus overhead of one hop (publish to handler) through our FastStream step runner,
against a raw nats-py JetStream publish/consume baseline on the same server.

Writes ``bench/results/pipeline.json`` and ``bench/results/pipeline.md``.
Run with ``make bench`` (``python -m bench.pipeline``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import nats
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from bench.common import embedded_servers, machine, write_results
from tradelane.cli.embedded import EmbeddedNats
from tradelane.cli.supervisor import Supervisor
from tradelane.contracts import subjects
from tradelane.contracts.events import BarsFetched, ExecutionRequested, Trigger
from tradelane.contracts.market import Bar, ResolvedSymbol
from tradelane.contracts.strategy import AnalysisSettings, AssetType, BarSize, StrategyDefinition, SymbolRef
from tradelane.contracts.subjects import Step
from tradelane.runtime.bus import dedup_headers
from tradelane.runtime.bus_status import stream_states
from tradelane.runtime.logging import configure_logging
from tradelane.runtime.payloads import bars_window
from tradelane.runtime.service import Service
from tradelane.runtime.settings import Settings
from tradelane.runtime.streams import LINEAGE_CONSUMERS, STEP_CONSUMERS, provision
from tradelane.store.pool import create_pool

WARM_UP_RUNS = 3
PIPELINE_SERVICES = ("lineage", "market_data", "indicators", "charts", "llm_analyst", "signals")


@dataclass(frozen=True)
class Workload:
    """A strategy shape users run, measured as a whole."""

    name: str
    description: str
    strategy: StrategyDefinition

    def with_png(self, render_png: bool) -> StrategyDefinition:
        return self.strategy.model_copy(update={"render_png": render_png})


BTC = SymbolRef(symbol="BTC", exchange="PAXOS", currency="USD", asset_type=AssetType.CRYPTO)
WORKLOADS = (
    Workload(
        "daily",
        "AAPL daily bars over 1 Y (about 260 bars), default indicator set",
        StrategyDefinition(name="bench-daily", symbol=SymbolRef(symbol="AAPL")),
    ),
    Workload(
        "intraday",
        "the demo: BTC 1-minute bars over 1 D (1,440 bars), default indicator set",
        StrategyDefinition(name="bench-intraday", symbol=BTC, bar_size=BarSize.MIN_1, duration="1 D"),
    ),
    Workload(
        "multi_timeframe",
        "BTC 1 min over 1 D, plus 5 mins, 1 hour and 1 day, each with its own history",
        StrategyDefinition(
            name="bench-multi-timeframe",
            symbol=BTC,
            bar_size=BarSize.MIN_1,
            duration="1 D",
            analysis=AnalysisSettings(timeframes=(BarSize.MIN_5, BarSize.HOUR_1, BarSize.DAY_1)),
        ),
    ),
)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50_ms": round(percentile(values, 0.5), 3),
        "p99_ms": round(percentile(values, 0.99), 3),
        "mean_ms": round(statistics.fmean(values), 3),
        "max_ms": round(max(values), 3),
    }


class SignalWatcher:
    """Resolves a future per execution when its signal (or failure) is published."""

    def __init__(self) -> None:
        self.pending: dict[UUID, asyncio.Future[str]] = {}

    async def on_message(self, msg: Msg) -> None:
        body = json.loads(msg.data)
        future = self.pending.pop(UUID(body["execution_id"]), None)
        if future is not None and not future.done():
            future.set_result(msg.subject)

    def expect(self, execution_id: UUID) -> asyncio.Future[str]:
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.pending[execution_id] = future
        return future


class LargestMessage:
    """The largest pipeline message body seen since the last :meth:`reset`."""

    def __init__(self) -> None:
        self.size = 0
        self.subject = ""

    async def on_message(self, msg: Msg) -> None:
        if len(msg.data) > self.size:
            self.size, self.subject = len(msg.data), msg.subject

    def reset(self) -> dict[str, Any]:
        seen = {"bytes": self.size, "subject": self.subject}
        self.size, self.subject = 0, ""
        return seen


async def bytes_stored(client: NatsClient, database_url: str) -> dict[str, int]:
    """What PostgreSQL, the streams and the object store hold now, in bytes."""
    pool = await create_pool(database_url)
    try:
        postgres = await pool.fetchval(
            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind IN ('r', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
        )
    finally:
        await pool.close()
    streams = objects = 0
    for info in await client.jetstream().streams_info():
        size = info.state.bytes or 0
        if (info.config.name or "").startswith("OBJ_"):
            objects += size
        else:
            streams += size
    return {"postgres": int(postgres), "streams": streams, "object_store": objects}


SETTLE_SECONDS = 300.0


async def settled(client: NatsClient) -> None:
    """Wait until the running services' consumers have nothing pending or unacknowledged.

    Storage measured after this holds the work measured and no backlog of an earlier phase (the
    lineage records a sustained phase's hundreds of executions for a while after it ends).
    """
    watched = {spec.durable for spec in (*STEP_CONSUMERS.values(), *LINEAGE_CONSUMERS)}
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        lags = [consumer for stream in await stream_states(client) for consumer in stream.consumers]
        if all(lag.pending == 0 and lag.ack_pending == 0 for lag in lags if lag.consumer in watched):
            return
        if time.monotonic() > deadline:
            msg = f"the services still had work pending after {SETTLE_SECONDS:g} s"
            raise RuntimeError(msg)
        await asyncio.sleep(0.2)


def per_execution(before: dict[str, int], after: dict[str, int], executions: int) -> dict[str, int]:
    return {store: round((after[store] - before[store]) / executions) for store in before}


def rss_kib(pid: int | None) -> int | None:
    """A process's resident set size in KiB, from /proc (None when it is not running or not on Linux)."""
    if pid is None:
        return None
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return None


def request_for(strategy: StrategyDefinition, strategy_id: UUID) -> ExecutionRequested:
    return ExecutionRequested(
        execution_id=uuid4(),
        strategy_id=strategy_id,
        strategy=strategy,
        trigger=Trigger.MANUAL,
        as_of=datetime.now(UTC),
    )


async def run_once(client: NatsClient, watcher: SignalWatcher, strategy: StrategyDefinition) -> float:
    request = request_for(strategy, uuid4())
    done = watcher.expect(request.execution_id)
    started = time.perf_counter()
    await client.jetstream().publish(
        subjects.EXECUTION_REQUESTED, request.model_dump_json().encode(), headers=dedup_headers(request)
    )
    subject = await asyncio.wait_for(done, 60)
    if subject == subjects.STEP_FAILED:
        raise RuntimeError(f"execution {request.execution_id} failed; see the lineage")
    return (time.perf_counter() - started) * 1000


async def latency(client: NatsClient, watcher: SignalWatcher, strategy: StrategyDefinition, runs: int) -> list[float]:
    for _ in range(WARM_UP_RUNS):  # first PNG, first TA-Lib call, connection pools
        await run_once(client, watcher, strategy)
    return [await run_once(client, watcher, strategy) for _ in range(runs)]


async def sustained(
    client: NatsClient, watcher: SignalWatcher, strategy: StrategyDefinition, seconds: float, in_flight: int
) -> dict[str, float]:
    """Keep ``in_flight`` executions running for ``seconds``; count the completions."""
    deadline = time.perf_counter() + seconds
    completed = 0
    latencies: list[float] = []

    async def worker() -> None:
        nonlocal completed
        while time.perf_counter() < deadline:
            latencies.append(await run_once(client, watcher, strategy))
            completed += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    elapsed = time.perf_counter() - started
    return {
        "seconds": round(elapsed, 2),
        "in_flight": in_flight,
        "completed": completed,
        "executions_per_second": round(completed / elapsed, 2),
        "latency_p50_ms": round(percentile(latencies, 0.5), 2),
        "latency_p99_ms": round(percentile(latencies, 0.99), 2),
    }


async def raw_hop(client: NatsClient, messages: int) -> list[float]:
    """Baseline: nats-py JetStream publish to a push consumer's callback."""
    js = client.jetstream()
    await js.add_stream(name="BENCH_RAW", subjects=["bench.raw"])
    received: asyncio.Queue[float] = asyncio.Queue()

    async def on_message(msg: Msg) -> None:
        received.put_nowait(time.perf_counter())
        await msg.ack()

    await js.subscribe("bench.raw", cb=on_message, durable="bench-raw", manual_ack=True)
    samples = []
    for index in range(messages):
        sent = time.perf_counter()
        await js.publish("bench.raw", f'{{"n": {index}}}'.encode())
        samples.append((await received.get() - sent) * 1000)
    await js.delete_stream("BENCH_RAW")
    return samples


async def tradelane_hop(settings: Settings, client: NatsClient, messages: int) -> list[float]:
    """Our step runner: publish an ExecutionRequested, time until the typed handler runs."""
    received: asyncio.Queue[float] = asyncio.Queue()
    service = Service("market-data", settings)
    bar = Bar(time=datetime(2026, 1, 2, tzinfo=UTC), open=1, high=1, low=1, close=1, volume=0)
    symbol = ResolvedSymbol(conid=1, symbol="AAPL", exchange="NASDAQ", currency="USD", asset_type=AssetType.STOCK)
    window = bars_window(symbol.conid, BarSize.DAY_1, (bar,))  # a reference: the hop measures the runner alone

    async def timing_handler(msg: ExecutionRequested) -> BarsFetched:
        received.put_nowait(time.perf_counter())
        return msg.follow(BarsFetched, strategy=msg.strategy, symbol=symbol, bars=window, provider="bench")

    service.step(Step.MARKET_DATA)(timing_handler)
    await service.start()
    strategy = StrategyDefinition(name="hop", symbol=SymbolRef(symbol="AAPL"))
    samples = []
    try:
        for _ in range(messages):
            request = request_for(strategy, uuid4())
            body = request.model_dump_json().encode()
            sent = time.perf_counter()
            await client.jetstream().publish(subjects.EXECUTION_REQUESTED, body, headers=dedup_headers(request))
            samples.append((await received.get() - sent) * 1000)
    finally:
        await service.close()
    return samples


async def hops(store_dir: Path, messages: int) -> tuple[list[float], list[float]]:
    """Both hop measurements on a NATS server of their own, so nothing they leave reaches the pipeline."""
    server = EmbeddedNats(store_dir)
    settings = Settings(nats_url=await server.start(), health_port=0)
    try:
        client = await nats.connect(settings.nats_url)
        await provision(client.jetstream(), settings)
        raw = await raw_hop(client, messages)
        ours = await tradelane_hop(settings, client, messages)
        await client.close()
    finally:
        server.stop()
    return raw, ours


@dataclass(frozen=True)
class System:
    """The running pipeline as the measurements see it."""

    client: NatsClient
    watcher: SignalWatcher
    largest: LargestMessage
    supervisor: Supervisor
    database_url: str


async def with_system(settings: Settings, body: Callable[[System], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
    env = {
        **os.environ,
        "TRADELANE_NATS_URL": settings.nats_url,
        "TRADELANE_DATABASE_URL": settings.database_url.get_secret_value(),
        "TRADELANE_LOG_LEVEL": "WARNING",
        "TRADELANE_LOG_FORMAT": "json",
    }
    supervisor = Supervisor(PIPELINE_SERVICES, env)
    running = asyncio.create_task(supervisor.run())
    client = await nats.connect(settings.nats_url)
    watcher = SignalWatcher()
    largest = LargestMessage()
    for subject in (subjects.SIGNAL_GENERATED, subjects.SIGNAL_REJECTED, subjects.STEP_FAILED):
        await client.subscribe(subject, cb=watcher.on_message)
    await client.subscribe(subjects.PIPELINE_ALL, cb=largest.on_message)
    try:
        await asyncio.sleep(3)  # services connect and warm their renderer
        return await body(System(client, watcher, largest, supervisor, settings.database_url.get_secret_value()))
    finally:
        await client.close()
        await supervisor.stop()
        await running


async def measure_workload(system: System, workload: Workload, args: argparse.Namespace) -> dict[str, Any]:
    """Every figure of one workload; the storage growth is taken over its PNG latency runs."""
    client, watcher = system.client, system.watcher
    with_png, without_png = workload.with_png(True), workload.with_png(False)
    system.largest.reset()
    await settled(client)
    stored_before = await bytes_stored(client, system.database_url)
    latency_with_png = await latency(client, watcher, with_png, args.png_runs)
    await settled(client)
    stored_after = await bytes_stored(client, system.database_url)
    figures = {
        "description": workload.description,
        "latency_with_png": summary(latency_with_png),
        "bytes_per_execution": per_execution(stored_before, stored_after, args.png_runs + WARM_UP_RUNS),
        "latency_without_png": summary(await latency(client, watcher, without_png, args.runs)),
        "sustained_with_png": await sustained(client, watcher, with_png, args.sustain_seconds, args.in_flight),
        "sustained_without_png": await sustained(client, watcher, without_png, args.sustain_seconds, args.in_flight),
        "largest_message": system.largest.reset(),
        "rss_kib": {service: rss_kib(system.supervisor.pid(service)) for service in PIPELINE_SERVICES},
    }
    print(f"{workload.name}: {json.dumps(figures)}", flush=True)
    return figures


async def main(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="tradelane-bench-"))
    hop_raw, hop_ours = await hops(workdir / "nats-hops", args.hop_messages)

    async def measure(system: System) -> dict[str, Any]:
        return {workload.name: await measure_workload(system, workload, args) for workload in WORKLOADS}

    async with embedded_servers(workdir) as settings:
        pipeline = await with_system(settings, measure)
    raw, ours = summary(hop_raw), summary(hop_ours)
    return {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "hop_raw_nats_py": raw,
        "hop_tradelane": ours,
        "hop_overhead_p50_ms": round(ours["p50_ms"] - raw["p50_ms"], 3),
        "workloads": pipeline,
    }


def mib(kib: int | None) -> str:
    return "?" if kib is None else str(round(kib / 1024))


def markdown(result: dict[str, Any]) -> str:
    def row(name: str, figures: dict[str, Any]) -> str:
        return f"| {name} | {figures['n']} | {figures['p50_ms']} | {figures['p99_ms']} | {figures['max_ms']} |"

    def rate(name: str, figures: dict[str, Any]) -> str:
        return (
            f"| {name} | {figures['executions_per_second']} | {figures['in_flight']} | {figures['seconds']} "
            f"| {figures['latency_p50_ms']} | {figures['latency_p99_ms']} |"
        )

    measured_on = result["machine"]
    lines = [
        f"# Pipeline benchmark ({result['measured_at']})",
        "",
        f"Machine: {measured_on['cpus']} CPUs, Python {measured_on['python']}, {measured_on['platform']}, "
        f"load average {measured_on['load_average_1m']} at the end.",
        "",
        "| hop | n | p50 ms | p99 ms | max ms |",
        "| --- | --- | --- | --- | --- |",
        row("one hop, raw nats-py JetStream", result["hop_raw_nats_py"]),
        row("one hop, tradelane step runner", result["hop_tradelane"]),
        "",
        f"Hop overhead (p50, ours minus raw): {result['hop_overhead_p50_ms']} ms.",
    ]
    for name, figures in result["workloads"].items():
        stored = figures["bytes_per_execution"]
        largest = figures["largest_message"]
        memory = ", ".join(f"{service} {mib(kib)} MiB" for service, kib in figures["rss_kib"].items())
        lines += [
            "",
            f"## {name}: {figures['description']}",
            "",
            "| run request to signal | n | p50 ms | p99 ms | max ms |",
            "| --- | --- | --- | --- | --- |",
            row("with PNG", figures["latency_with_png"]),
            row("without PNG", figures["latency_without_png"]),
            "",
            "| sustained | executions/s | in flight | seconds | p50 ms | p99 ms |",
            "| --- | --- | --- | --- | --- | --- |",
            rate("with PNG", figures["sustained_with_png"]),
            rate("without PNG", figures["sustained_without_png"]),
            "",
            f"Stored per execution (with PNG): PostgreSQL {stored['postgres']:,} B, "
            f"streams {stored['streams']:,} B, object store {stored['object_store']:,} B.",
            f"Largest message: {largest['bytes']:,} B ({largest['subject']}).",
            "",
            f"RSS after the workload: {memory}.",
        ]
    return "\n".join([*lines, ""])


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=200, help="sequential runs without PNG")
    parser.add_argument("--png-runs", type=int, default=30, help="sequential runs with PNG")
    parser.add_argument("--sustain-seconds", type=float, default=20.0, help="each sustained measurement")
    parser.add_argument("--in-flight", type=int, default=16)
    parser.add_argument("--hop-messages", type=int, default=2000)
    args = parser.parse_args()
    configure_logging("WARNING", "json")
    result = asyncio.run(main(args))
    write_results("pipeline", result, markdown(result))


if __name__ == "__main__":
    cli()
