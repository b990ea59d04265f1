"""The lineage service's cost per message: CPU of its process and of PostgreSQL while it records a burst.

One real execution of the demo strategy with the offline analyst goes through the pipeline's
handlers in this process (market data, indicators, a chart reference, the offline analysis, the
signal): six messages, the pipeline's share of one backtest decision. ``--executions`` copies of it,
each with ids of its own, are then published to the pipeline's stream at once, faster than the
lineage records them, so that it works through a backlog, as it does in a backtest. The lineage
runs as its own process, as ``tradelane up`` runs it, on an embedded NATS and PostgreSQL.

Measured from the first publish until every message is a lineage step: the wall time, and the CPU
seconds of the lineage process, of PostgreSQL's processes and of the NATS server, per message.

Writes ``bench/results/lineage.json`` and ``bench/results/lineage.md``.
Run with ``python -m bench.lineage`` (``make bench`` runs it too).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import asyncpg
import nats
from nats.aio.client import Client as NatsClient

from bench.backtest import server_roots
from bench.common import ProcessTable, embedded_servers, machine, write_results
from tradelane.cli.demo import DEMO_STRATEGY
from tradelane.cli.supervisor import Supervisor
from tradelane.contracts import subjects
from tradelane.contracts.envelope import Envelope
from tradelane.contracts.events import ChartRendered, ExecutionRequested, Trigger
from tradelane.contracts.market import ObjectRef
from tradelane.contracts.strategy import AnalysisSettings
from tradelane.indicators.handlers import IndicatorCalculator
from tradelane.llm_analyst.handlers import Analyst
from tradelane.market_data.handlers import BarsFetcher
from tradelane.market_data.simulated import SimulatedProvider
from tradelane.runtime.bus import EventBus, event_headers
from tradelane.runtime.logging import configure_logging
from tradelane.runtime.payloads import PayloadStore
from tradelane.runtime.service import create_broker
from tradelane.runtime.settings import Settings
from tradelane.runtime.streams import LINEAGE_CONSUMERS
from tradelane.signals.handlers import SignalMaker

AS_OF = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
PUBLISHES_IN_FLIGHT = 200
LINEAGE = "lineage"


async def one_execution(settings: Settings) -> list[tuple[str, Envelope]]:
    """One execution's pipeline messages (subject, event), made by the steps' own handlers."""
    broker = create_broker(settings, "bench")
    await broker.connect()
    try:
        payloads = PayloadStore(EventBus(broker))
        strategy = DEMO_STRATEGY.model_copy(update={"analysis": AnalysisSettings(analyst="offline")})
        request = ExecutionRequested(
            execution_id=uuid4(), strategy_id=uuid4(), strategy=strategy, trigger=Trigger.MANUAL, as_of=AS_OF
        )
        bars = await BarsFetcher(SimulatedProvider(), payloads).on_execution_requested(request)
        indicators = await IndicatorCalculator(payloads).on_bars_fetched(bars)
        figure = ObjectRef(bucket=subjects.CHART_BUCKET, name="0" * 64, size=90_000, content_type="application/json")
        chart = indicators.follow(
            ChartRendered, strategy=strategy, snapshot=indicators.snapshot, figure=figure, png=None, timeframes=()
        )
        analysis = await Analyst(None, retry_rules=settings.retry_rules).on_chart_rendered(chart)
        signal = await SignalMaker().on_analysis_completed(analysis)
    finally:
        await broker.stop()
    events: list[Envelope] = [request, bars, indicators, chart, analysis, signal]
    return [(subjects.subject_for(event), event) for event in events]


def copies(template: list[tuple[str, Envelope]], executions: int) -> list[tuple[str, Envelope]]:
    """``executions`` copies of the template execution, each with its own execution and message ids."""
    messages: list[tuple[str, Envelope]] = []
    for _ in range(executions):
        execution_id, cause = uuid4(), None
        for subject, event in template:
            copy = event.model_copy(update={"execution_id": execution_id, "message_id": uuid4(), "causation_id": cause})
            messages.append((subject, copy))
            cause = copy.message_id
    return messages


async def publish(client: NatsClient, messages: list[tuple[str, Envelope]]) -> None:
    js = client.jetstream()
    encoded = [(subject, event.model_dump_json().encode(), event_headers(event)) for subject, event in messages]
    for start in range(0, len(encoded), PUBLISHES_IN_FLIGHT):
        await asyncio.gather(
            *(
                js.publish(subject, body, headers=headers)
                for subject, body, headers in encoded[start : start + PUBLISHES_IN_FLIGHT]
            )
        )


async def consuming(client: NatsClient) -> None:
    """Return once every lineage consumer has a pull request waiting: the lineage is reading."""
    js = client.jetstream()
    while True:
        infos = [await js.consumer_info(spec.stream, spec.durable) for spec in LINEAGE_CONSUMERS]
        if all((info.num_waiting or 0) > 0 for info in infos):
            return
        await asyncio.sleep(0.1)


async def recorded(pool: asyncpg.Pool[Any], expected: int) -> None:
    """Return once ``expected`` steps are recorded."""
    while True:
        if await pool.fetchval("SELECT count(*) FROM lineage.steps") >= expected:
            return
        await asyncio.sleep(0.05)


def cpu_by_process(table: ProcessTable, roots: dict[str, int]) -> dict[str, float]:
    return {name: table.cpu_seconds_of(table.tree(pid)) for name, pid in roots.items()}


async def measure(settings: Settings, workdir: Path, executions: int) -> dict[str, Any]:
    template = await one_execution(settings)
    messages = copies(template, executions)
    env = {
        **os.environ,
        "TRADELANE_NATS_URL": settings.nats_url,
        "TRADELANE_DATABASE_URL": settings.database_url.get_secret_value(),
        "TRADELANE_LOG_LEVEL": "WARNING",
        "TRADELANE_LOG_FORMAT": "json",
    }
    supervisor = Supervisor((LINEAGE,), env)
    running = asyncio.create_task(supervisor.run())
    client = await nats.connect(settings.nats_url)
    pool = await asyncpg.create_pool(settings.database_url.get_secret_value(), min_size=1, max_size=1)
    try:
        await asyncio.wait_for(consuming(client), 60)
        pid = supervisor.pid(LINEAGE)
        assert pid is not None, "the lineage process is not running"
        roots = {LINEAGE: pid, **server_roots(workdir)}
        before, started = cpu_by_process(ProcessTable.read(), roots), time.monotonic()
        await publish(client, messages)
        published = time.monotonic() - started
        await recorded(pool, len(messages))
        wall = time.monotonic() - started
        after = cpu_by_process(ProcessTable.read(), roots)
    finally:
        await pool.close()
        await client.close()
        await supervisor.stop()
        await running
    cpu = {name: after[name] - before[name] for name in roots}
    count = len(messages)
    return {
        "messages": count,
        "executions": executions,
        "message_bytes": {
            subject.removeprefix("pipeline."): len(event.model_dump_json()) for subject, event in template
        },
        "publish_seconds": round(published, 2),
        "wall_seconds": round(wall, 2),
        "messages_per_second": round(count / wall, 1),
        "cpu_ms_per_message": {name: round(seconds / count * 1000, 3) for name, seconds in cpu.items()},
        "cpu_seconds": {name: round(seconds, 2) for name, seconds in cpu.items()},
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="tradelane-bench-lineage-"))
    async with embedded_servers(workdir) as settings:
        figures = await measure(settings, workdir, args.executions)
    return {"measured_at": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine(), **figures}


def markdown(result: dict[str, Any]) -> str:
    cpu = result["cpu_ms_per_message"]
    sizes = ", ".join(f"{subject} {size:,} B" for subject, size in result["message_bytes"].items())
    return "\n".join(
        [
            f"# Lineage benchmark ({result['measured_at']})",
            "",
            f"Machine: {result['machine']['cpus']} CPUs, load average {result['machine']['load_average_1m']} "
            "at the end. Produced by `python -m bench.lineage`.",
            "",
            f"{result['messages']:,} pipeline messages ({result['executions']:,} executions of six: {sizes}), "
            f"published in {result['publish_seconds']} s; all recorded after {result['wall_seconds']} s "
            f"({result['messages_per_second']} messages/s).",
            "",
            "| process | CPU ms per message | CPU s |",
            "| --- | --- | --- |",
            *(f"| {name} | {cpu[name]} | {result['cpu_seconds'][name]} |" for name in cpu),
            "",
        ]
    )


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--executions", type=int, default=1000, help="executions of six messages each")
    args = parser.parse_args()
    configure_logging("WARNING", "json")
    result = asyncio.run(main(args))
    write_results("lineage", result, markdown(result))


if __name__ == "__main__":
    cli()
