"""`tradelane backtest` against real NATS and PostgreSQL, the backtester faked on the bus.

The fake (:class:`tests.support.backtests.FakeBacktester`) answers the backtester's request subjects
and writes its rows through ``BacktestRepository`` as the backtester does; the command connects as
the ``operator`` NATS user, so these tests check its permissions too.
"""

from __future__ import annotations

import asyncio
import io
import os
import pty
import re
import signal
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest
from nats.aio.client import Client as NatsClient

from cli.tests.conftest import Cli
from tests.support.backtests import (
    REPORT,
    FakeBacktester,
    complete,
    estimate_of,
    fake_backtester,
    replying,
    store_run,
)
from tradelane.cli.backtest import ProgressLine
from tradelane.cli.context import Console
from tradelane.cli.demo import DEMO_STRATEGY
from tradelane.contracts.backtest import (
    BacktestControl,
    BacktestProgress,
    BacktestReply,
    BacktestRequest,
    VariantOverrides,
)
from tradelane.contracts.strategy import Schedule, StrategyDefinition, SymbolRef
from tradelane.runtime.settings import Settings
from tradelane.store.backtests import BacktestRepository
from tradelane.store.strategies import StrategyRepository

START = datetime(2026, 10, 1, tzinfo=UTC)
PERIOD = ("--start", "2026-10-01", "--end", "2026-11-01")


@pytest.fixture
async def strategy_id(pool: asyncpg.Pool[Any]) -> UUID:
    stored = await StrategyRepository(pool).create(StrategyDefinition(name="demo", symbol=SymbolRef(symbol="AAPL")))
    return stored.id


@pytest.fixture
def repository(pool: asyncpg.Pool[Any]) -> BacktestRepository:
    return BacktestRepository(pool)


@pytest.fixture
async def backtester(nats_client: NatsClient, repository: BacktestRepository) -> AsyncIterator[FakeBacktester]:
    async with fake_backtester(nats_client, repository) as fake:
        yield fake


def cells(lines: list[str], first: str) -> list[str]:
    """The cells of the first table row that starts with ``first`` (columns are two spaces or more apart)."""
    row = next(line for line in lines if line.startswith(first))
    return re.split(r"\s{2,}", row.strip())


def finishing(fake: FakeBacktester, *, cost: Decimal | None = Decimal("0.03")) -> None:
    """The fake's runs end at once: a start stores the run, answers every decision and stores the result."""

    async def plan(request: BacktestRequest) -> BacktestReply:
        if request.estimate_only:
            return BacktestReply(outcome="estimated", estimate=estimate_of(request, cost=cost))
        backtest_id = await store_run(fake.repository, request)
        await complete(fake.repository, backtest_id)
        return BacktestReply(outcome="created", backtest_id=backtest_id, estimate=estimate_of(request, cost=cost))

    fake.on_create = plan


@pytest.mark.usefixtures("strategy_id")
async def test_a_backtest_prints_its_estimate_then_its_progress_then_the_metrics_and_the_report(
    cli: Cli, backtester: FakeBacktester
) -> None:
    finishing(backtester)
    result = await cli("backtest", "demo", *PERIOD, "--cadence", "bar", "--budget-usd", "1", "--yes")
    assert result.code == 0, result.err
    assert result.lines[:5] == [
        "backtest of demo from 2026-10-01 00:00:00Z to 2026-11-01 00:00:00Z",
        "decisions:    3 per variant (2026-10-01 00:00:00Z to 2026-10-01 02:00:00Z)",
        "variants:     base, offline",
        "model calls:  3 (0 decisions already answered, at no cost)",
        "cost:         0.0300 USD",
    ]
    [backtest_id] = [line.split()[1] for line in result.lines if line.startswith("backtest ") and " of " not in line]
    assert cells(result.lines, "Metric") == ["Metric", "base", "offline", "buy-and-hold"]
    assert cells(result.lines, "Total return") == ["Total return", "5.0 %", "2.0 %", "3.0 %"]
    assert f"report: GET /api/backtests/{backtest_id}/report (web UI: /backtests/{backtest_id})" in result.lines
    assert f"save it: tradelane backtest show {backtest_id} --report FILE" in result.lines
    assert "[########################] 6/6 decisions, 3 cache hits, 0.0300 USD, ETA 0 s" in result.err
    started = [request for request in backtester.creates if not request.estimate_only]
    assert [(r.cadence, r.budget_usd) for r in started] == [("bar", Decimal(1))]


async def test_an_ab_comparison_prints_both_variants_and_the_difference_with_its_interval(
    cli: Cli, backtester: FakeBacktester, strategy_id: UUID
) -> None:
    finishing(backtester, cost=Decimal(0))
    result = await cli("backtest", str(strategy_id), *PERIOD, "--analyst", "llm", "--compare", "prompt_version=2,3")
    assert result.code == 0, result.err
    [asked, *_] = backtester.creates
    assert asked.variants == (
        VariantOverrides(analyst="llm", prompt_version=2),
        VariantOverrides(analyst="llm", prompt_version=3),
    )
    header = next(line for line in result.lines if line.startswith("Metric") and "95 % interval" in line)
    assert "analyst=llm,prompt_version=3 - analyst=llm,prompt_version=2" in header
    assert any(
        line.startswith("Total return") and "[-1.0 pp, +5.0 pp]  could be chance" in line for line in result.lines
    )
    assert any(line.startswith("Sharpe") and "differs" in line for line in result.lines)


@pytest.mark.usefixtures("strategy_id")
async def test_a_run_that_may_cost_money_is_not_started_off_a_terminal_without_yes(
    cli: Cli, backtester: FakeBacktester
) -> None:
    result = await cli("backtest", "demo", *PERIOD)
    assert result.code == 2
    assert "it may cost money (see the estimate above): pass --yes to start it without asking" in result.err
    assert "cost:         0.0300 USD" in result.lines
    assert [request.estimate_only for request in backtester.creates] == [True]


@pytest.mark.usefixtures("strategy_id")
async def test_an_estimate_only_prints_the_estimate_and_starts_nothing(cli: Cli, backtester: FakeBacktester) -> None:
    result = await cli("backtest", "demo", *PERIOD, "--estimate-only")
    assert result.code == 0, result.err
    assert "model calls:  3 (0 decisions already answered, at no cost)" in result.lines
    assert [request.estimate_only for request in backtester.creates] == [True]


@pytest.mark.usefixtures("strategy_id")
async def test_without_cadence_a_daily_strategy_decides_at_every_bar(cli: Cli, backtester: FakeBacktester) -> None:
    """Not the strategy's cron (every 5 minutes by default), which the backtester refuses over daily bars."""
    result = await cli("backtest", "demo", *PERIOD, "--estimate-only")
    assert result.code == 0, result.err
    assert [request.cadence for request in backtester.creates] == ["bar"]


async def test_without_cadence_the_demo_strategy_decides_every_hour(
    cli: Cli, backtester: FakeBacktester, pool: asyncpg.Pool[Any]
) -> None:
    """Its 1-minute bars and cron every minute would be 43,200 decisions a month; hourly is some 720."""
    await StrategyRepository(pool).create(DEMO_STRATEGY)
    result = await cli("backtest", DEMO_STRATEGY.name, *PERIOD, "--estimate-only")
    assert result.code == 0, result.err
    assert [request.cadence for request in backtester.creates] == ["0 * * * *"]


@pytest.mark.usefixtures("strategy_id")
async def test_a_cadence_given_is_asked_as_given(cli: Cli, backtester: FakeBacktester) -> None:
    result = await cli("backtest", "demo", *PERIOD, "--cadence", "cron", "--estimate-only")
    assert result.code == 0, result.err
    assert [request.cadence for request in backtester.creates] == ["cron"]


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (("backtest", "nope", *PERIOD), "no strategy with id or name 'nope'"),
        (("backtest", "demo", "--start", "2026-11-01", "--end", "2026-10-01"), "must be after start"),
        (("backtest", "demo", *PERIOD, "--compare", "prompt_version=2"), "compare exactly two values"),
        (("backtest", "demo", *PERIOD, "--compare", "temperature=1,2"), "compare one of prompt_version"),
        (("backtest", "demo", *PERIOD, "--compare", "prompt_version=2,x"), "prompt_version"),
        (("backtest", "demo", *PERIOD, "--slippage-bps", "-1"), "--slippage-bps: Input should be greater than"),
        (("backtest", "show", str(uuid4())), "no backtest with id"),
        (("backtest", "demo", "list"), "backtest takes a STRATEGY"),
    ],
)
@pytest.mark.usefixtures("strategy_id")
async def test_bad_input_exits_2_with_the_reason_before_anything_runs(
    cli: Cli, backtester: FakeBacktester, argv: tuple[str, ...], said: str
) -> None:
    result = await cli(*argv, "--yes")
    assert result.code == 2, result.err
    assert said in result.err
    assert backtester.creates == []


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (
            ("--start", "2026-11-01", "--end", "2026-10-01"),
            "end (2026-10-01T00:00:00+00:00) must be after start (2026-11-01T00:00:00+00:00)",
        ),
        ((*PERIOD, "--compare", "model=a,a"), "the variants compared must differ, got model=a twice"),
        ((*PERIOD, "--budget-usd", "-1"), "--budget-usd: Input should be greater than or equal to 0"),
    ],
)
@pytest.mark.usefixtures("strategy_id")
async def test_a_refused_option_is_said_as_it_was_typed(
    cli: Cli, backtester: FakeBacktester, argv: tuple[str, ...], said: str
) -> None:
    """The reason names the option, not the request's model and field, and has no "Value error, " before it."""
    result = await cli("backtest", "demo", *argv, "--yes")
    assert result.code == 2
    assert result.err.strip() == f"tradelane backtest: {said}"
    assert backtester.creates == []


@pytest.mark.usefixtures("strategy_id")
async def test_a_request_the_backtester_refuses_exits_2_with_its_reason(cli: Cli, backtester: FakeBacktester) -> None:
    reason = "the cadence (every 1 minute) is finer than the bar size (1 day)"
    backtester.on_create = replying(BacktestReply(outcome="invalid", reason=reason))
    result = await cli("backtest", "demo", *PERIOD, "--cadence", "* * * * *", "--yes")
    assert result.code == 2
    assert f"the backtester refused it: {reason}" in result.err


@pytest.mark.usefixtures("strategy_id")
async def test_without_a_backtester_it_exits_1_saying_to_start_one(cli: Cli) -> None:
    result = await cli("backtest", "demo", *PERIOD, "--yes")
    assert result.code == 1
    assert "no backtester is running to answer; start it (`tradelane run backtester`" in result.err


async def test_list_and_show_a_completed_backtest_and_write_its_report(
    cli: Cli, repository: BacktestRepository, strategy_id: UUID, tmp_path: Path
) -> None:
    backtest_id = await store_run(
        repository, BacktestRequest(strategy_id=strategy_id, start=START, end=START.replace(month=11))
    )
    await complete(repository, backtest_id)
    listed = await cli("backtest", "list", "--strategy", "demo")
    assert listed.code == 0, listed.err
    assert listed.lines[0].split()[:3] == ["ID", "NAME", "STRATEGY"]
    assert str(backtest_id) in listed.lines[1] and "completed" in listed.lines[1] and "6/6" in listed.lines[1]
    report = tmp_path / "report.html"
    shown = await cli("backtest", "show", str(backtest_id), "--report", str(report))
    assert shown.code == 0, shown.err
    assert "status:       completed" in shown.lines
    assert cells(shown.lines, "Total return") == ["Total return", "5.0 %", "2.0 %", "3.0 %"]
    assert report.read_text(encoding="utf-8") == REPORT
    as_json = await cli("backtest", "show", str(backtest_id), "--json")
    assert '"status":"completed"' in as_json.out and '"buy_and_hold"' in as_json.out


async def test_show_says_the_cron_and_time_zone_a_cron_cadence_replays(
    cli: Cli, repository: BacktestRepository, strategy_id: UUID
) -> None:
    backtest_id = await store_run(
        repository,
        BacktestRequest(strategy_id=strategy_id, start=START, end=START.replace(month=11), cadence="cron"),
        schedule=Schedule(cron="0 16 * * 1-5", timezone="America/New_York"),
    )
    shown = await cli("backtest", "show", str(backtest_id))
    assert shown.code == 0, shown.err
    assert "cadence:      cron 0 16 * * 1-5 (America/New_York), the strategy's schedule" in shown.lines
    listed = await cli("backtest", "list")
    assert listed.code == 0, listed.err
    assert "cron 0 16 * * 1-5 (America/New_York), the strategy's schedule" in listed.out


async def test_the_report_of_a_running_backtest_is_not_there_yet(
    cli: Cli, repository: BacktestRepository, strategy_id: UUID, tmp_path: Path
) -> None:
    backtest_id = await store_run(
        repository, BacktestRequest(strategy_id=strategy_id, start=START, end=START.replace(month=11))
    )
    shown = await cli("backtest", "show", str(backtest_id), "--report", str(tmp_path / "r.html"))
    assert shown.code == 1
    assert f"backtest {backtest_id} has no report yet: it is running" in shown.err


async def test_a_stopped_backtest_is_resumed_and_followed_to_its_end(
    cli: Cli, backtester: FakeBacktester, repository: BacktestRepository, strategy_id: UUID
) -> None:
    backtest_id = await store_run(
        repository, BacktestRequest(strategy_id=strategy_id, start=START, end=START.replace(month=11))
    )
    await repository.set_status(backtest_id, "stopped", "stopped by a user")

    async def resume(control: BacktestControl) -> BacktestReply:
        await repository.set_status(control.backtest_id, "running")
        await complete(repository, control.backtest_id)
        return BacktestReply(outcome="resumed", backtest_id=control.backtest_id)

    backtester.on_control = resume
    result = await cli("backtest", "--resume", str(backtest_id))
    assert result.code == 0, result.err
    assert [(c.backtest_id, c.action) for c in backtester.controls] == [(backtest_id, "resume")]
    assert f"resumed backtest {backtest_id}" in result.err
    assert f"report: GET /api/backtests/{backtest_id}/report (web UI: /backtests/{backtest_id})" in result.lines


async def test_a_resume_the_backtester_refuses_exits_2_with_its_reason(
    cli: Cli, backtester: FakeBacktester, repository: BacktestRepository, strategy_id: UUID
) -> None:
    backtest_id = await store_run(
        repository, BacktestRequest(strategy_id=strategy_id, start=START, end=START.replace(month=11))
    )
    backtester.on_control = replying(BacktestReply(outcome="invalid", reason="it is running"))
    result = await cli("backtest", "--resume", str(backtest_id))
    assert (result.code, result.err.strip()) == (2, "tradelane backtest: the backtester refused it: it is running")


@pytest.mark.usefixtures("strategy_id")
async def test_ctrl_c_stops_the_run_and_says_how_to_resume_it(
    backtester: FakeBacktester, repository: BacktestRepository, settings: Settings
) -> None:
    """The command as a process of its own, interrupted by SIGINT as a terminal's Ctrl-C would."""
    connection = ["--nats-url", settings.nats_url, "--database-url", settings.database_url.get_secret_value()]
    if settings.nats_credentials_file is not None:
        connection += ["--nats-credentials", str(settings.nats_credentials_file)]
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tradelane.cli", "backtest", "demo", *PERIOD, "--yes", *connection,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stderr is not None
    try:
        first = await asyncio.wait_for(process.stderr.readline(), timeout=30)
        assert b"0/6 decisions" in first, first
        process.send_signal(signal.SIGINT)
        code = await asyncio.wait_for(process.wait(), timeout=30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    rest = (await process.stderr.read()).decode()
    [summary] = await repository.summaries()
    assert code == 130, rest
    assert [(c.backtest_id, c.action) for c in backtester.controls] == [(summary.id, "stop")]
    assert f"stopped backtest {summary.id}; resume it with: tradelane backtest --resume {summary.id}" in rest
    assert summary.status == "stopped"


def test_the_progress_line_counts_cache_hits_cost_and_the_time_left() -> None:
    ticks = iter([0.0, 10.0])
    shown = ProgressLine(io.StringIO(), clock=lambda: next(ticks))
    first = BacktestProgress(
        decisions_total=100, decisions_done=0, decisions_failed=0, cache_hits=0, cache_misses=0, cost_usd=Decimal(0)
    )
    assert shown.line(first) == "[........................] 0/100 decisions, 0 cache hits, 0.0000 USD, ETA -"
    later = first.model_copy(update={"decisions_done": 20, "decisions_failed": 5, "cache_hits": 12})
    assert shown.line(later) == (
        "[######..................] 25/100 decisions (5 failed), 12 cache hits, 0.0000 USD, ETA 30.0 s"
    )


def test_off_a_terminal_the_progress_is_a_line_per_tenth_done() -> None:
    stream = io.StringIO()
    shown = ProgressLine(stream, clock=lambda: 0.0)
    for done in (0, 3, 9, 10, 55, 100):
        shown.draw(
            BacktestProgress(
                decisions_total=100,
                decisions_done=done,
                decisions_failed=0,
                cache_hits=0,
                cache_misses=0,
                cost_usd=Decimal(0),
            )
        )
    assert [line.split()[1] for line in stream.getvalue().splitlines()] == ["0/100", "10/100", "55/100", "100/100"]


async def test_a_question_on_a_terminal_is_answered_by_the_line_typed() -> None:
    typing, terminal = pty.openpty()
    answers = os.fdopen(terminal, "r", encoding="utf-8")
    console = Console(out=io.StringIO(), err=io.StringIO(), answers=answers)
    try:
        asked = asyncio.create_task(console.confirm("start it?"))
        os.write(typing, b"y\n")
        assert await asyncio.wait_for(asked, timeout=5) is True
        assert console.err.getvalue() == "start it? [y/N] "  # type: ignore[attr-defined]
    finally:
        answers.close()
        os.close(typing)
