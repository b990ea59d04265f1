"""The backtester runner's look at a running backtest, as the backtest grows.

The runner looks at a backtest each time one of its decisions is answered (an analysis or a signal recorded).
This benchmark stores a backtest of two variants in the middle of its run (half its decisions answered,
``max_in_flight`` published, the rest pending) in an embedded PostgreSQL, at 1,500 decisions (``bench.backtest``'s
hourly run) and 17,500 (a year of hourly bars), each without a budget and with one, and measures per look: the
reads a look made before it had ``BacktestRepository.run_state`` (``summary``, which sums every decision, and
``in_flight``), ``run_state`` alone, and ``Runner.advance`` as it is (with no room left: it reads and returns, as
at each analysis recorded). For each: the wall time, the CPU of this process and that of PostgreSQL's processes,
each the least of three rounds.

Writes ``bench/results/runner_look.json`` and ``bench/results/runner_look.md``.
Run with ``python -m bench.runner_look`` (``make bench`` runs it too).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Final
from uuid import UUID, uuid4

import asyncpg

from bench.bar_window import measured
from bench.common import machine, write_results
from tradelane.backtester.runner import Runner
from tradelane.cli.embedded import EmbeddedPostgres
from tradelane.contracts.backtest import BacktestEstimate, BacktestRequest
from tradelane.runtime.bus import EncodedEvent
from tradelane.store.backtests import BacktestRepository, NewRun, PlannedDecision
from tradelane.store.migrate import migrate
from tradelane.store.pool import create_pool

START: Final = datetime(2024, 1, 1, tzinfo=UTC)
VARIANTS: Final = ("base", "offline")
MAX_IN_FLIGHT: Final = 16
SIZES: Final = (1_500, 17_500)
BUDGET: Final = Decimal(1000)
ROUNDS: Final = 3
SIGNAL: Final = {
    "signal": {"action": "HOLD", "confidence": 50, "reasons": ["Range-bound since Tuesday, volume fading"] * 12},
    "analysis": {"bias": "neutral", "summary": "No edge either way at this bar. " * 20},
}
"""About the size of a stored SignalGenerated: the rows a look that sums every decision goes over are this wide."""


async def store_backtest(
    backtests: BacktestRepository, pool: asyncpg.Pool[Any], decisions: int, budget: Decimal | None
) -> UUID:
    """A backtest of ``decisions`` (both variants) in the middle of its run, as a look finds it."""
    hours = decisions // len(VARIANTS)
    strategy_id = uuid4()
    request = BacktestRequest(
        strategy_id=strategy_id, start=START, end=START + timedelta(hours=hours), budget_usd=budget
    )
    run = NewRun(
        id=uuid4(),
        name="runner look",
        strategy_id=strategy_id,
        strategy_name="bench",
        request=request,
        strategies={variant: {"name": "bench"} for variant in VARIANTS},
        estimate=BacktestEstimate(
            decisions=hours, variants=VARIANTS, model_calls=hours, cached_decisions=0, cost_usd=None
        ),
    )
    planned = [
        PlannedDecision(variant, seq, START + timedelta(hours=seq), uuid4(), f"{run.id}-{variant}-{seq}")
        for seq in range(hours)
        for variant in VARIANTS
    ]
    await backtests.create(run, planned)
    await pool.execute(
        "UPDATE backtest.decisions SET status = 'done', analysed = true, cost_usd = 0.0001, cache_misses = 1,"
        " action = 'HOLD', bias = 'neutral', confidence = 50, signal = $2 WHERE backtest_id = $1 AND seq < $3",
        run.id,
        SIGNAL,
        hours // 2,
    )
    await backtests.mark_published(decision.execution_id for decision in await backtests.waiting(run.id, MAX_IN_FLIGHT))
    await pool.execute("VACUUM ANALYZE backtest.decisions")
    await pool.execute("CHECKPOINT")  # the rows just written go to disk now, not during the measurement
    return run.id


async def nothing_to_publish(events: Sequence[EncodedEvent]) -> list[Exception | None]:
    raise AssertionError(f"no room, yet {len(events)} decisions to publish")


async def nothing_to_finish(backtest_id: UUID) -> None:
    raise AssertionError(f"{backtest_id} is in the middle of its run")


async def run(seconds: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="tradelane-runner-look-") as directory:
        postgres = EmbeddedPostgres(Path(directory) / "postgres")
        dsn = postgres.start("tradelane")
        pool = await create_pool(dsn)
        try:
            await migrate(pool)
            assert postgres.pid is not None
            servers = {"postgres": postgres.pid}
            backtests = BacktestRepository(pool)
            runner = Runner(
                backtests,
                nothing_to_publish,
                nothing_to_finish,
                max_in_flight=MAX_IN_FLIGHT,
                budgeted_in_flight=MAX_IN_FLIGHT,
                poll_seconds=60,
            )
            looks: list[dict[str, Any]] = []
            stored: dict[tuple[int, Decimal | None], UUID] = {}
            for size in SIZES:
                for budget in (None, BUDGET):
                    backtest_id = stored[size, budget] = await store_backtest(backtests, pool, size, budget)

                    async def summed(_: int, backtest_id: UUID = backtest_id) -> None:
                        await backtests.summary(backtest_id)
                        await backtests.in_flight(backtest_id)

                    async def state(_: int, backtest_id: UUID = backtest_id) -> None:
                        await backtests.run_state(backtest_id)

                    async def look(_: int, backtest_id: UUID = backtest_id) -> None:
                        await runner.advance(backtest_id)

                    figures = {}
                    for name, call in (("summary_in_flight", summed), ("run_state", state), ("advance", look)):
                        figures[name] = await least_of_rounds(await calls_in(seconds, call), call, servers)
                    looks.append({"decisions": size, "budget": budget is not None, **figures})
        finally:
            await pool.close()
            postgres.stop()
    return {"machine": machine(), "max_in_flight": MAX_IN_FLIGHT, "looks": looks}


def least(measurements: list[dict[str, float]]) -> dict[str, float]:
    """Each figure the least of its measurements: other work on the machine (two cores, shared) only adds to one."""
    return {figure: min(measurement[figure] for measurement in measurements) for figure in measurements[0]}


async def least_of_rounds(
    calls: int, call: Callable[[int], Awaitable[object]], servers: dict[str, int]
) -> dict[str, float]:
    """The least of :data:`ROUNDS` measurements of ``calls`` calls of ``call``."""
    return least([await measured(calls, call, servers, "postgres") for _ in range(ROUNDS)])


async def calls_in(seconds: float, call: Callable[[int], Awaitable[object]]) -> int:
    """How many calls of ``call`` take about ``seconds`` (from ten of them), so that each figure covers many clock
    ticks of PostgreSQL's CPU time; at least 50."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    for index in range(10):
        await call(index)
    each = (loop.time() - started) / 10
    return max(50, round(seconds / each))


def markdown(result: dict[str, Any]) -> str:
    labels = {
        "summary_in_flight": "`summary` + `in_flight` (a look's reads before)",
        "run_state": "`run_state` (a look's reads now)",
        "advance": "`Runner.advance`, no room (a whole look now)",
    }
    rows = []
    for look in result["looks"]:
        for name, label in labels.items():
            figures = look[name]
            rows.append(
                f"| {look['decisions']:,} | {'yes' if look['budget'] else 'no'} | {label} | {figures['wall_ms']} |"
                f" {figures['process_cpu_ms']} | {figures['postgres_cpu_ms']} |"
            )
    return (
        "# The backtester runner's look at a running backtest\n\n"
        f"Half the decisions answered, {result['max_in_flight']} in flight, the rest pending; per look, through "
        f"`create_pool`'s pool (machine: {result['machine']}).\n\n"
        "| decisions | budget | look | wall ms | this process CPU ms | PostgreSQL CPU ms |\n"
        "|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--seconds", type=float, default=1.0, help="about how long each round of a look measures (default 1)"
    )
    args = parser.parse_args()
    result = asyncio.run(run(args.seconds))
    write_results("runner_look", result, markdown(result))


if __name__ == "__main__":
    main()
