"""The chart step on this machine, on the demo workload: the whole history against a window, one page against two.

The workload is the demo strategy's (simulated BTC 1-minute bars over 1 day, 1,440 bars, the
default indicators, PNG on), each execution a minute after the last and each setting's a day
before the last setting's, so that no two charts are the same: every PNG is drawn, none is the
one an equal figure was rendered to before (:mod:`tradelane.charts.rendered`). The market-data
and indicators handlers build the input, before any timing. The step is
``ChartMaker.on_indicators_computed`` as the charts service runs it, with its warm renderer,
storing figures and PNGs in the object store of an embedded NATS. For each setting:

1. latency of one execution at a time, p50/p99 (the chart step of an end-to-end run);
2. executions per second with as many in flight as the renderer has pages (the service takes
   one message per page);
3. CPU per execution: Chromium's processes, and this process (figure, JSON, object store).

Settings: the whole history on one page (the step before charts had a window), the default
window on one page and on two, and the multi-timeframe execution (1 min + 5 mins + 1 hour +
1 day, each its own chart) on one page and on two.

Writes ``bench/results/charts.json`` and ``bench/results/charts.md``.
Run with ``python -m bench.charts`` (``make bench`` runs it too).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import nats

from bench.common import cpu_seconds_of_tree, machine, write_results
from bench.durability import timed_load
from tradelane.charts.figure import DEFAULT_HEIGHT, DEFAULT_WIDTH
from tradelane.charts.handlers import ChartMaker
from tradelane.charts.renderer import PngRenderer
from tradelane.cli.demo import DEMO_STRATEGY
from tradelane.cli.embedded import EmbeddedNats
from tradelane.contracts.events import ExecutionRequested, IndicatorsComputed, Trigger
from tradelane.contracts.strategy import MAX_CHART_BARS, AnalysisSettings, BarSize, StrategyDefinition
from tradelane.indicators.handlers import IndicatorCalculator
from tradelane.market_data.handlers import BarsFetcher
from tradelane.market_data.simulated import SimulatedProvider
from tradelane.runtime.bus import EventBus
from tradelane.runtime.logging import configure_logging
from tradelane.runtime.payloads import PayloadStore
from tradelane.runtime.service import create_broker
from tradelane.runtime.settings import Settings
from tradelane.runtime.streams import provision

FIRST_AS_OF = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
"""End of the first execution's bars: a fixed time, so that every run charts the same bars."""
MULTI_TIMEFRAME = AnalysisSettings(timeframes=(BarSize.MIN_5, BarSize.HOUR_1, BarSize.DAY_1))


@dataclass(frozen=True)
class Setting:
    name: str
    strategy: StrategyDefinition
    pages: int


def settings_measured() -> list[Setting]:
    whole = DEMO_STRATEGY.model_copy(update={"chart_bars": MAX_CHART_BARS})
    multi = DEMO_STRATEGY.model_copy(update={"analysis": MULTI_TIMEFRAME})
    window = DEMO_STRATEGY.chart_bars
    return [
        Setting(f"whole history ({MAX_CHART_BARS} bars at most), 1 page", whole, 1),
        Setting(f"window of {window} bars, 1 page", DEMO_STRATEGY, 1),
        Setting(f"window of {window} bars, 2 pages", DEMO_STRATEGY, 2),
        Setting(f"multi-timeframe, window of {window} bars, 1 page", multi, 1),
        Setting(f"multi-timeframe, window of {window} bars, 2 pages", multi, 2),
    ]


async def workload(
    payloads: PayloadStore, strategy: StrategyDefinition, count: int, first_as_of: datetime
) -> list[IndicatorsComputed]:
    """``count`` executions of ``strategy`` a minute apart from ``first_as_of``, through market data and indicators."""
    fetcher = BarsFetcher(SimulatedProvider(), payloads)
    calculator = IndicatorCalculator(payloads)
    executions = []
    for index in range(count):
        request = ExecutionRequested(
            execution_id=uuid4(),
            strategy_id=uuid4(),
            strategy=strategy,
            trigger=Trigger.MANUAL,
            as_of=first_as_of + timedelta(minutes=index),
        )
        executions.append(await calculator.on_bars_fetched(await fetcher.on_execution_requested(request)))
    return executions


async def measure(bus: EventBus, setting: Setting, count: int, first_as_of: datetime) -> dict[str, Any]:
    executions = await workload(PayloadStore(bus), setting.strategy, 2 * count + 2, first_as_of)
    async with PngRenderer(pages=setting.pages) as renderer:
        # a store of its own, as the charts service has: the bars and series are fetched, not cached from above
        maker = ChartMaker(bus, PayloadStore(bus), renderer, width=DEFAULT_WIDTH, height=DEFAULT_HEIGHT)
        for warm_up in executions[:2]:  # plotly.js compiled in the pages, the object store opened
            await maker.on_indicators_computed(warm_up)
        browser = renderer.browser_pid
        assert browser is not None
        serial, loaded = executions[2 : 2 + count], executions[2 + count :]
        latency = await timed_load(lambda index: maker.on_indicators_computed(serial[index]), count, 1)
        chromium_before, own_before = cpu_seconds_of_tree(browser), time.process_time()
        throughput = await timed_load(lambda index: maker.on_indicators_computed(loaded[index]), count, setting.pages)
        chromium, own = cpu_seconds_of_tree(browser) - chromium_before, time.process_time() - own_before
    charts = 1 + len(setting.strategy.extra_timeframes)
    print(f"{setting.name}: p50 {latency['p50_ms']} ms, {throughput['per_second']}/s", flush=True)
    return {
        "setting": setting.name,
        "pages": setting.pages,
        "charts_per_execution": charts,
        "bars": [executions[0].bars.count, *(frame.bars.count for frame in executions[0].timeframes)],
        "chart_bars": setting.strategy.chart_bars,
        "latency": latency,
        "throughput": throughput,
        "chromium_cpu_ms_per_execution": round(chromium / count * 1000, 1),
        "step_process_cpu_ms_per_execution": round(own / count * 1000, 1),
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="bench-charts-"))
    server = EmbeddedNats(workdir / "nats")
    settings = Settings(nats_url=await server.start(), health_port=0)
    broker = create_broker(settings, "charts")
    try:
        await broker.connect()
        client = await nats.connect(settings.nats_url)
        await provision(client.jetstream(), settings)
        await client.close()
        bus = EventBus(broker)
        rows = [
            await measure(bus, setting, args.executions, FIRST_AS_OF - timedelta(days=position))
            for position, setting in enumerate(settings_measured())
        ]
    finally:
        await broker.stop()
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "workload": f"{DEMO_STRATEGY.name}: {DEMO_STRATEGY.symbol.symbol} {DEMO_STRATEGY.bar_size.value} bars over "
        f"{DEMO_STRATEGY.duration}, default indicators, PNG {DEFAULT_WIDTH}x{DEFAULT_HEIGHT}",
        "executions_per_setting": args.executions,
        "settings": rows,
    }


def markdown(result: dict[str, Any]) -> str:
    rows = [
        f"| {row['setting']} | {'+'.join(str(bars) for bars in row['bars'])} | {row['latency']['p50_ms']} "
        f"| {row['latency']['p99_ms']} | {row['throughput']['per_second']} | {row['chromium_cpu_ms_per_execution']} "
        f"| {row['step_process_cpu_ms_per_execution']} |"
        for row in result["settings"]
    ]
    return "\n".join(
        [
            f"# Chart step benchmark ({result['measured_at']}, {result['machine']['cpus']} CPUs, "
            f"load average {result['machine']['load_average_1m']} at the end)",
            "",
            f"Workload: {result['workload']}; {result['executions_per_setting']} executions per setting and load.",
            "Produced by `make bench` (`python -m bench.charts`).",
            "",
            "| setting | bars fetched | p50 ms | p99 ms | executions/s, one per page in flight "
            "| Chromium CPU ms per execution | step process CPU ms per execution |",
            "| --- | --- | --- | --- | --- | --- | --- |",
            *rows,
            "",
            "Latency is one execution at a time: the chart step of an end-to-end run. The rate has as",
            "many executions in flight as the renderer has pages, as the charts service takes them.",
            "",
        ]
    )


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--executions", type=int, default=30, help="executions per setting and load")
    args = parser.parse_args()
    configure_logging("WARNING", "json")
    result = asyncio.run(main(args))
    write_results("charts", result, markdown(result))


if __name__ == "__main__":
    cli()
