"""`tradelane strategies`, `tradelane executions` and `tradelane performance` against real NATS and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import asyncpg
from nats.aio.client import Client as NatsClient

from cli.tests.conftest import Cli
from tests.support.ledger import ledger_outcome, ledger_signal
from tradelane.contracts import subjects
from tradelane.contracts.events import ExecutionRequested
from tradelane.runtime.settings import Settings
from tradelane.runtime.streams import provision
from tradelane.store.ledger import LedgerRepository
from tradelane.store.lineage import LineageRepository, StepRecord

START = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


async def test_a_strategy_is_created_from_flags_and_listed(cli: Cli) -> None:
    flags = ["--name", "msft-hourly", "--symbol", "msft", "--bar-size", "1 hour", "--duration", "60 D"]
    schedule = ["--cron", "5 16 * * 1-5", "--timezone", "America/New_York"]
    created = await cli("strategies", "create", *flags, "--chart-bars", "150", *schedule)
    assert created.code == 0, created.err
    strategy_id = UUID(created.out.strip())
    listed = await cli("strategies", "list", "--json")
    [strategy] = [json.loads(line) for line in listed.lines]
    assert strategy["id"] == str(strategy_id)
    assert (
        strategy["symbol"]["symbol"],
        strategy["bar_size"],
        strategy["chart_bars"],
        strategy["schedule"]["timezone"],
    ) == ("MSFT", "1 hour", 150, "America/New_York")
    text = await cli("strategies", "list")
    assert "msft-hourly" in text.lines[1] and "MSFT@SMART" in text.lines[1]


async def test_a_strategy_is_created_from_a_file_with_flags_overriding_it(cli: Cli, tmp_path: Path) -> None:
    file = tmp_path / "strategy.json"
    file.write_text(json.dumps({"name": "from-file", "symbol": {"symbol": "AAPL"}, "duration": "6 M"}))
    created = await cli("strategies", "create", "--file", str(file), "--name", "renamed", "--inactive")
    assert created.code == 0, created.err
    [strategy] = [json.loads(line) for line in (await cli("strategies", "list", "--json")).lines]
    assert (strategy["name"], strategy["duration"], strategy["active"]) == ("renamed", "6 M", False)


async def test_creating_a_strategy_with_risky_values_warns_and_still_creates_it(cli: Cli, tmp_path: Path) -> None:
    file = tmp_path / "strategy.json"
    risk = {"account_size": "5000", "risk_per_trade": "0.08", "min_risk_reward": "0.8", "min_profit_margin": "0.05"}
    file.write_text(json.dumps({"name": "risky", "symbol": {"symbol": "AAPL"}, "risk": risk}))
    created = await cli("strategies", "create", "--file", str(file))
    assert created.code == 0, created.err
    warned = [line for line in created.err.splitlines() if line.startswith("warning: ")]
    assert warned == [
        "warning: risk.account_size: account size 5000 is under 10000: positions will be small and commissions "
        "weigh heavily",
        "warning: risk.risk_per_trade: risk per trade 8 % is above 5 % of the account: a few losses in a row take "
        "a large share of it",
        "warning: risk.min_risk_reward: minimum reward/risk 0.8 is below 1: accepted signals may win less than "
        "they risk",
    ]
    assert UUID(created.out.strip())


async def test_creating_a_prudent_strategy_warns_of_nothing(cli: Cli, tmp_path: Path) -> None:
    file = tmp_path / "strategy.json"
    prudent = {"name": "prudent", "symbol": {"symbol": "AAPL"}, "risk": {"min_profit_margin": "0.03"}}
    file.write_text(json.dumps(prudent))
    created = await cli("strategies", "create", "--file", str(file))
    assert created.code == 0, created.err
    assert "warning" not in created.err


async def test_a_bad_strategy_exits_2_naming_the_field(cli: Cli) -> None:
    result = await cli("strategies", "create", "--name", "bad", "--symbol", "AAPL", "--duration", "forever")
    assert result.code == 2
    assert "duration" in result.err and "'forever'" in result.err


async def test_a_taken_name_exits_2(cli: Cli) -> None:
    for _ in range(2):
        result = await cli("strategies", "create", "--name", "twice", "--symbol", "AAPL")
    assert result.code == 2
    assert "already exists" in result.err


async def test_running_a_strategy_by_name_requests_an_execution(
    cli: Cli, nats_client: NatsClient, settings: Settings
) -> None:
    js = nats_client.jetstream()
    await provision(js, settings)
    strategy_id = (await cli("strategies", "create", "--name", "run-me", "--symbol", "AAPL")).out.strip()
    run = await cli("strategies", "run", "run-me")
    assert run.code == 0, run.err
    stored = await js.get_last_msg(subjects.PIPELINE_STREAM, subjects.EXECUTION_REQUESTED)
    assert stored.data is not None
    request = ExecutionRequested.model_validate_json(stored.data)
    assert (str(request.execution_id), str(request.strategy_id)) == (run.out.strip(), strategy_id)


async def test_running_an_unknown_strategy_exits_2(cli: Cli) -> None:
    result = await cli("strategies", "run", "nobody")
    assert result.code == 2
    assert "no strategy with id or name 'nobody'" in result.err


async def _execution(pool: asyncpg.Pool[Any], *, replay_of: UUID | None = None, confidence: int = 70) -> UUID:
    lineage = LineageRepository(pool)
    execution_id, strategy_id = uuid4(), UUID(int=7)
    cause: UUID | None = None
    for index, (step, subject) in enumerate(
        [("requested", subjects.EXECUTION_REQUESTED), ("analysis", subjects.ANALYSIS_COMPLETED)]
    ):
        message_id = uuid4()
        await lineage.record(
            StepRecord(
                execution_id=execution_id,
                strategy_id=strategy_id,
                step=step,
                message_id=message_id,
                causation_id=cause,
                subject=subject,
                stream_sequence=index + 1,
                status="succeeded",
                payload={"message_id": str(message_id), "analysis": {"confidence": confidence}},
                occurred_at=START + timedelta(seconds=index),
                duration_ms=12.5,
                execution_status="completed" if step == "analysis" else "running",
                trigger="manual",
                replay_of=replay_of,
            )
        )
        cause = message_id
    return execution_id


async def test_executions_are_listed_and_shown_step_by_step(cli: Cli, pool: asyncpg.Pool[Any]) -> None:
    execution_id = await _execution(pool)
    listed = await cli("executions", "list")
    assert listed.code == 0, listed.err
    assert str(execution_id) in listed.lines[1] and "completed" in listed.lines[1]
    shown = await cli("executions", "show", str(execution_id))
    assert shown.code == 0, shown.err
    assert f"execution  {execution_id}" in shown.lines[0]
    assert [line.split()[0] for line in shown.lines[-2:]] == ["requested", "analysis"]


async def test_showing_an_unknown_execution_exits_2(cli: Cli) -> None:
    result = await cli("executions", "show", str(uuid4()))
    assert result.code == 2
    assert "no execution with id" in result.err


async def test_diff_names_what_changed_and_exits_1(cli: Cli, pool: asyncpg.Pool[Any]) -> None:
    original = await _execution(pool, confidence=70)
    replay = await _execution(pool, replay_of=original, confidence=80)
    result = await cli("executions", "diff", str(original), str(replay))
    assert result.code == 1
    assert "~ analysis (succeeded -> succeeded)" in result.out
    assert "    output.analysis.confidence: 70 -> 80" in result.out
    assert result.lines[-1] == "different"


async def test_diff_of_a_faithful_replay_exits_0(cli: Cli, pool: asyncpg.Pool[Any]) -> None:
    original = await _execution(pool)
    replay = await _execution(pool, replay_of=original)
    result = await cli("executions", "diff", str(original), str(replay), "--json")
    assert result.code == 0
    assert json.loads(result.out)["identical"] is True


async def test_performance_prints_the_groups_ranked_and_says_which_have_too_few_outcomes(
    cli: Cli, pool: asyncpg.Pool[Any]
) -> None:
    ledger = LedgerRepository(pool)
    for model, r in (("vision-1", 2), ("vision-1", -1), ("vision-2", 3)):
        signal = ledger_signal(model=model)
        await ledger.record_signal(signal)
        await ledger.record_outcome(ledger_outcome(signal.signal_id, r=r))
    shown = await cli("performance", "--group-by", "model", "--min-outcomes", "2")
    assert shown.code == 0, shown.err
    header, first, second = shown.lines
    assert header.split()[:4] == ["RANK", "GROUP", "SIGNALS", "OUTCOMES"]
    assert first.split()[:7] == ["1", "vision-1", "2", "2", "50", "%", "+0.50"]
    assert second.split()[:2] == ["-", "vision-2"]
    assert second.endswith("too few outcomes to rank")
