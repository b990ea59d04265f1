"""``tradelane backtest``: run a strategy over a past period and follow it; resume, list and show backtests.

Starting, stopping and resuming are requests to the backtester service (the subjects the
gateway's ``/api/backtests`` asks on); the progress, the result and the report are read from the
backtests it stores in PostgreSQL (:class:`~tradelane.store.backtests.BacktestRepository`).

A start first asks for the estimate (decisions, variants, model calls, cost) and prints it; when
the run may cost money it asks before starting (``--yes`` does not ask). Then it follows the run with
a progress bar until it ends. Ctrl-C asks the backtester to stop it and says how to resume it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Final, TextIO
from uuid import UUID

import nats.errors
from nats.aio.client import Client as NatsClient
from pydantic import ValidationError

from tradelane.cli.context import EXIT_INTERRUPTED, EXIT_UNAVAILABLE, CliError, Connections, Console
from tradelane.cli.format import duration, table, timestamp
from tradelane.cli.progress import bar
from tradelane.cli.strategies import find_strategy
from tradelane.contracts import subjects
from tradelane.contracts.backtest import (
    BacktestControl,
    BacktestEstimate,
    BacktestProgress,
    BacktestReply,
    BacktestRequest,
    BacktestSummary,
    SimulationCosts,
    VariantOverrides,
    default_cadence,
)
from tradelane.contracts.backtest_display import (
    cadence_text,
    compared_labels,
    compared_variants,
    comparison_table,
    metrics_table,
    seconds_left,
)
from tradelane.contracts.envelope import Contract
from tradelane.store.backtests import BacktestRepository
from tradelane.store.strategies import StoredStrategy, StrategyRepository

POLL_SECONDS: Final = 0.5
"""Between two looks at a run's progress."""
CREATE_SECONDS: Final = 30.0
"""Planning reads the strategy, the bars' times and the cached answers; the backtester answers before it runs."""
CONTROL_SECONDS: Final = 10.0
ENDED: Final = frozenset({"completed", "stopped", "failed"})
STEPS: Final = 10
"""Off a terminal, a progress line is written each time another tenth of the decisions is done."""
FLAGS: Final = {
    "start": "--start",
    "end": "--end",
    "cadence": "--cadence",
    "name": "--name",
    "budget_usd": "--budget-usd",
    "commission_rate": "--commission-rate",
    "slippage_bps": "--slippage-bps",
}
"""The option that gives each field of the request (and of its costs)."""


@dataclass(frozen=True)
class StartOptions:
    """What ``tradelane backtest STRATEGY`` was asked."""

    strategy: str
    start: datetime
    end: datetime
    cadence: str | None
    """None: the strategy's :func:`~tradelane.contracts.backtest.default_cadence`."""
    overrides: VariantOverrides
    compare: str | None
    budget_usd: Decimal | None
    commission_rate: Decimal | None
    slippage_bps: Decimal | None
    name: str | None
    estimate_only: bool
    yes: bool


def _variants(options: StartOptions) -> tuple[VariantOverrides, ...]:
    """None (the strategy as stored), the strategy with the overrides, or the two compared (each with them)."""
    if options.compare:
        return compared_variants(options.compare, options.overrides)
    return (options.overrides,) if options.overrides.model_dump(exclude_none=True) else ()


def request_of(stored: StoredStrategy, options: StartOptions, *, estimate_only: bool) -> BacktestRequest:
    """The request the options stand for; a :class:`CliError` (exit 2) saying what is wrong with them."""
    try:
        variants = _variants(options)
        costs = {"commission_rate": options.commission_rate, "slippage_bps": options.slippage_bps}
        return BacktestRequest(
            strategy_id=stored.id,
            start=options.start,
            end=options.end,
            cadence=options.cadence or default_cadence(stored.definition),
            variants=variants,
            costs=SimulationCosts.model_validate({k: v for k, v in costs.items() if v is not None}),
            budget_usd=options.budget_usd,
            estimate_only=estimate_only,
            name=options.name,
        )
    except ValidationError as error:
        raise CliError(invalid_options(error)) from error
    except ValueError as error:
        raise CliError(f"--compare: {error}") from error


def invalid_options(error: ValidationError) -> str:
    """What is wrong with the options, as they were typed: each problem after the option that gave it (a
    problem of the request as a whole, an end before the start, after none), without pydantic's prefix."""
    problems = []
    for item in error.errors():
        message = str(item["msg"]).removeprefix("Value error, ")
        where = FLAGS.get(str(item["loc"][0]), ".".join(str(part) for part in item["loc"])) if item["loc"] else ""
        problems.append(f"{where}: {message}" if where else message)
    return "; ".join(problems)


async def _ask(client: NatsClient, subject: str, request: Contract, seconds: float) -> BacktestReply:
    try:
        message = await client.request(
            subject, request.model_dump_json().encode(), timeout=seconds, headers={"content-type": "application/json"}
        )
    except nats.errors.NoRespondersError as error:
        msg = "no backtester is running to answer; start it (`tradelane run backtester`; `tradelane up` runs it)"
        raise CliError(msg, EXIT_UNAVAILABLE) from error
    except nats.errors.TimeoutError as error:
        msg = f"the backtester did not answer within {seconds:g} s; see `tradelane status`, `tradelane backtest list`"
        raise CliError(msg, EXIT_UNAVAILABLE) from error
    return BacktestReply.model_validate_json(message.data)


def _refused(reply: BacktestReply, asked: str) -> CliError:
    """A reply that is not what ``asked`` hoped for, as the error to exit with."""
    reason = reply.reason or reply.outcome
    if reply.outcome in ("invalid", "not_found"):
        return CliError(f"the backtester refused it: {reason}")
    if reply.outcome == "unavailable":
        return CliError(f"the backtester cannot {asked} now: {reason}", EXIT_UNAVAILABLE)
    return CliError(f"the backtester answered {asked} with {reply.outcome!r}; is it the same version?", 1)


def estimate_lines(estimate: BacktestEstimate) -> list[str]:
    cost = "unknown (a model without a price)" if estimate.cost_usd is None else f"{estimate.cost_usd:.4f} USD"
    period = (
        f" ({timestamp(estimate.first_decision_at)} to {timestamp(estimate.last_decision_at)})"
        if estimate.first_decision_at and estimate.last_decision_at
        else ""
    )
    return [
        f"decisions:    {estimate.decisions} per variant{period}",
        f"variants:     {', '.join(estimate.variants)}",
        f"model calls:  {estimate.model_calls} ({estimate.cached_decisions} decisions already answered, at no cost)",
        f"cost:         {cost}",
    ]


def _may_cost(estimate: BacktestEstimate) -> bool:
    return estimate.cost_usd is None or estimate.cost_usd > 0


async def backtest_start(connections: Connections, console: Console, options: StartOptions) -> int:
    """Estimate, ask when it may cost money, start, then follow the run to its end."""
    stored = await find_strategy(StrategyRepository(await connections.pool()), options.strategy)
    asked = request_of(stored, options, estimate_only=True)
    client = await connections.nats()
    estimated = await _ask(client, subjects.BACKTEST_CREATE, asked, CREATE_SECONDS)
    if estimated.outcome != "estimated" or estimated.estimate is None:
        raise _refused(estimated, "an estimate")
    console.print(f"backtest of {stored.definition.name} from {timestamp(asked.start)} to {timestamp(asked.end)}")
    for line in estimate_lines(estimated.estimate):
        console.print(line)
    if options.estimate_only:
        return 0
    if not options.yes and _may_cost(estimated.estimate):
        answer = await console.confirm("start it?")
        if answer is None:
            raise CliError("it may cost money (see the estimate above): pass --yes to start it without asking")
        if not answer:
            console.note("not started")
            return 0
    started = await _ask(
        client, subjects.BACKTEST_CREATE, request_of(stored, options, estimate_only=False), CREATE_SECONDS
    )
    if started.outcome != "created" or started.backtest_id is None:
        raise _refused(started, "a start")
    console.print(f"backtest {started.backtest_id}")
    return await follow(connections, console, started.backtest_id)


async def backtest_resume(connections: Connections, console: Console, backtest_id: UUID) -> int:
    """Resume a stopped backtest where it stopped, then follow it to its end."""
    await _summary(BacktestRepository(await connections.pool()), backtest_id)
    control = BacktestControl(backtest_id=backtest_id, action="resume")
    reply = await _ask(await connections.nats(), subjects.BACKTEST_CONTROL, control, CONTROL_SECONDS)
    if reply.outcome != "resumed":
        raise _refused(reply, "a resume")
    console.note(f"resumed backtest {backtest_id}")
    return await follow(connections, console, backtest_id)


class ProgressLine:
    """Decisions done of total, cache hits, cost so far and the time left, redrawn in place on a terminal.

    Off a terminal it writes a line each time another tenth of the decisions is done, and the last one.
    """

    def __init__(self, stream: TextIO, clock: Callable[[], float] = time.monotonic) -> None:
        self._stream = stream
        self._clock = clock
        self._live = stream.isatty()
        self._first: tuple[float, int] | None = None
        self._step = -1
        self._drawn = False

    def line(self, progress: BacktestProgress) -> str:
        done = progress.decisions_done + progress.decisions_failed
        now = self._clock()
        if self._first is None:
            self._first = (now, done)
        left = seconds_left(progress.decisions_total, done, self._first, now)
        eta = "-" if left is None else duration(left) if left else "0 s"
        failed = f" ({progress.decisions_failed} failed)" if progress.decisions_failed else ""
        return (
            f"{bar(done, progress.decisions_total)} {done}/{progress.decisions_total} decisions{failed}, "
            f"{progress.cache_hits} cache hits, {progress.cost_usd:.4f} USD, ETA {eta}"
        )

    def draw(self, progress: BacktestProgress) -> None:
        text = self.line(progress)
        if self._live:
            self._stream.write("\r" + text + "\x1b[K")
            self._drawn = True
        else:
            done = progress.decisions_done + progress.decisions_failed
            step = STEPS if progress.decisions_total == 0 else STEPS * done // progress.decisions_total
            if step == self._step:
                return
            self._step = step
            self._stream.write(text + "\n")
        self._stream.flush()

    def finish(self) -> None:
        """End the line drawn in place (on a terminal)."""
        if self._drawn:
            self._stream.write("\n")
            self._stream.flush()


async def follow(connections: Connections, console: Console, backtest_id: UUID) -> int:
    """Draw the run's progress until it ends; on Ctrl-C ask the backtester to stop it and say how to resume."""
    repository = BacktestRepository(await connections.pool())
    shown = ProgressLine(console.err)
    try:
        while True:
            summary = await _summary(repository, backtest_id)
            shown.draw(summary.progress)
            if summary.status in ENDED:
                break
            await asyncio.sleep(POLL_SECONDS)
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None:
            task.uncancel()  # Ctrl-C cancelled the command: it still stops the run before it ends
        shown.finish()
        await _stop(connections, console, backtest_id)
        return EXIT_INTERRUPTED
    shown.finish()
    return await _ended(repository, console, summary, connections.endpoints.gateway_url)


async def _stop(connections: Connections, console: Console, backtest_id: UUID) -> None:
    resume = f"resume it with: tradelane backtest --resume {backtest_id}"
    try:
        control = BacktestControl(backtest_id=backtest_id, action="stop")
        reply = await _ask(await connections.nats(), subjects.BACKTEST_CONTROL, control, CONTROL_SECONDS)
    except CliError as error:
        console.note(f"could not stop backtest {backtest_id}: {error}")
        return
    if reply.outcome == "stopped":
        console.note(f"stopped backtest {backtest_id}; {resume}")
    else:
        console.note(f"backtest {backtest_id} was not stopped: {reply.reason or reply.outcome}")


async def _summary(repository: BacktestRepository, backtest_id: UUID) -> BacktestSummary:
    summary = await repository.summary(backtest_id)
    if summary is None:
        raise CliError(f"no backtest with id {backtest_id}; list them with `tradelane backtest list`")
    return summary


def report_lines(backtest_id: UUID, gateway_url: str | None) -> list[str]:
    page = f"{gateway_url.rstrip('/')}/backtests/{backtest_id}" if gateway_url else f"/backtests/{backtest_id}"
    return [
        f"report: GET /api/backtests/{backtest_id}/report (web UI: {page})",
        f"save it: tradelane backtest show {backtest_id} --report FILE",
    ]


async def _print_result(repository: BacktestRepository, console: Console, summary: BacktestSummary) -> bool:
    """The metrics side by side and the A/B comparison; False when there is no result (yet)."""
    result = await repository.result(summary.id)
    if result is None:
        return False
    headers, rows = metrics_table(result)
    console.print(table(headers, rows))
    labels = compared_labels(result)
    if labels is not None:
        console.print()
        console.print(table(*comparison_table(result.comparison, *labels)))
    return True


async def _ended(
    repository: BacktestRepository, console: Console, summary: BacktestSummary, gateway_url: str | None
) -> int:
    reason = f": {summary.reason}" if summary.reason else ""
    if summary.status != "completed":
        console.note(f"backtest {summary.id} {summary.status}{reason}")
        if summary.status == "stopped":
            console.note(f"resume it with: tradelane backtest --resume {summary.id}")
        return 1
    console.print()
    if not await _print_result(repository, console, summary):
        console.note(f"backtest {summary.id} completed without a result")
        return 1
    console.print()
    for line in report_lines(summary.id, gateway_url):
        console.print(line)
    return 0


def _row(summary: BacktestSummary) -> list[object]:
    progress = summary.progress
    return [
        summary.id,
        summary.name,
        summary.strategy_name,
        f"{timestamp(summary.request.start)} .. {timestamp(summary.request.end)}",
        cadence_text(summary),
        ",".join(summary.estimate.variants),
        summary.status,
        f"{progress.decisions_done + progress.decisions_failed}/{progress.decisions_total}",
        progress.cache_hits,
        f"{progress.cost_usd:.4f}",
        summary.created_at,
    ]


HEADERS: Final = (
    "ID", "NAME", "STRATEGY", "PERIOD", "CADENCE", "VARIANTS", "STATUS", "DONE", "CACHE HITS", "COST USD", "CREATED",
)  # fmt: skip


async def backtest_list(
    connections: Connections, console: Console, *, strategy: str | None, limit: int, json_output: bool
) -> int:
    pool = await connections.pool()
    strategy_id = (await find_strategy(StrategyRepository(pool), strategy)).id if strategy else None
    found = await BacktestRepository(pool).summaries(limit=limit, strategy_id=strategy_id)
    if json_output:
        for summary in found:
            console.json(summary.model_dump(mode="json"))
        return 0
    if not found:
        console.print("no backtests; start one with `tradelane backtest STRATEGY --start DATE --end DATE`")
        return 0
    console.print(table(HEADERS, [_row(summary) for summary in found]))
    return 0


async def backtest_show(
    connections: Connections, console: Console, backtest_id: UUID, *, report: Path | None, json_output: bool
) -> int:
    """One backtest: what was asked, where it stands, its metrics once complete; ``report`` writes its HTML."""
    repository = BacktestRepository(await connections.pool())
    summary = await _summary(repository, backtest_id)
    if report is not None:
        html = await repository.report_html(backtest_id)
        if html is None:
            raise CliError(f"backtest {backtest_id} has no report yet: it is {summary.status}", 1)
        await asyncio.to_thread(report.write_text, html, encoding="utf-8")
        console.note(f"wrote the report of backtest {backtest_id} to {report}")
    if json_output:
        result = await repository.result(backtest_id)
        console.json({**summary.model_dump(mode="json"), "result": result and result.model_dump(mode="json")})
        return 0
    progress = summary.progress
    done = progress.decisions_done + progress.decisions_failed
    console.print(f"backtest {summary.id}: {summary.name}")
    console.print(f"strategy:     {summary.strategy_name} ({summary.strategy_id})")
    console.print(f"period:       {timestamp(summary.request.start)} to {timestamp(summary.request.end)}")
    console.print(f"cadence:      {cadence_text(summary)}")
    console.print(f"status:       {summary.status}" + (f" ({summary.reason})" if summary.reason else ""))
    console.print(f"progress:     {done}/{progress.decisions_total} decisions ({progress.decisions_failed} failed)")
    console.print(f"cache:        {progress.cache_hits} hits, {progress.cache_misses} misses")
    console.print(f"cost so far:  {progress.cost_usd:.4f} USD")
    console.print("estimate:")
    for line in estimate_lines(summary.estimate):
        console.print(f"  {line}")
    if await _print_result(repository, console, summary):
        console.print()
        for line in report_lines(summary.id, connections.endpoints.gateway_url):
            console.print(line)
    return 0
