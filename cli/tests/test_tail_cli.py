"""`tradelane tail` prints live messages decoded through the contracts, against a real NATS."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from uuid import uuid4

from nats.aio.client import Client as NatsClient

from cli.tests.conftest import Cli, LiveConsole, Result
from tests.support.waiting import eventually
from tradelane.contracts import subjects
from tradelane.contracts.events import ExecutionRequested, Trigger
from tradelane.contracts.strategy import StrategyDefinition, SymbolRef
from tradelane.runtime.decisions import ERROR_HEADER, STEP_HEADER


def _request() -> ExecutionRequested:
    return ExecutionRequested(
        execution_id=uuid4(),
        strategy_id=uuid4(),
        strategy=StrategyDefinition(name="aapl-daily", symbol=SymbolRef(symbol="AAPL")),
        trigger=Trigger.MANUAL,
        as_of=datetime(2026, 11, 20, tzinfo=UTC),
    )


async def _tail(cli: Cli, *argv: str) -> tuple[LiveConsole, asyncio.Task[Result]]:
    """Start `tail` and wait until it listens."""
    console = LiveConsole()
    running = asyncio.create_task(cli("tail", *argv, console=console))
    await eventually(lambda: "tailing" in console.notes(), "tail to start listening", timeout=5)
    return console, running


async def test_tail_prints_one_decoded_line_per_message(cli: Cli, nats_client: NatsClient) -> None:
    _, running = await _tail(cli, "--count", "2")
    first, second = _request(), _request()
    for request in (first, second):
        await nats_client.publish(subjects.EXECUTION_REQUESTED, request.model_dump_json().encode())
    result = await asyncio.wait_for(running, 10)
    assert result.code == 0
    assert len(result.lines) == 2
    assert str(first.execution_id)[:8] in result.lines[0]
    assert "aapl-daily (AAPL 1 day) manual" in result.lines[0]
    assert subjects.EXECUTION_REQUESTED in result.lines[1]


async def test_tail_keeps_to_one_execution(cli: Cli, nats_client: NatsClient) -> None:
    wanted, other = _request(), _request()
    _, running = await _tail(cli, "--execution", str(wanted.execution_id), "--count", "1")
    for request in (other, wanted):
        await nats_client.publish(subjects.EXECUTION_REQUESTED, request.model_dump_json().encode())
    result = await asyncio.wait_for(running, 10)
    assert [str(wanted.execution_id)[:8] in line for line in result.lines] == [True]


async def test_tail_prints_json_with_the_subject_and_headers(cli: Cli, nats_client: NatsClient) -> None:
    _, running = await _tail(cli, subjects.dead_letter(">"), "--json", "--count", "1")
    request = _request()
    headers = {STEP_HEADER: "market_data", ERROR_HEADER: "down"}
    await nats_client.publish(
        subjects.dead_letter(subjects.EXECUTION_REQUESTED), request.model_dump_json().encode(), headers=headers
    )
    result = await asyncio.wait_for(running, 10)
    [record] = [json.loads(line) for line in result.lines]
    assert record["subject"] == subjects.dead_letter(subjects.EXECUTION_REQUESTED)
    assert record["headers"][STEP_HEADER] == "market_data"
    assert record["message"]["execution_id"] == str(request.execution_id)


async def test_tail_marks_dead_letters(cli: Cli, nats_client: NatsClient) -> None:
    _, running = await _tail(cli, "--count", "1")
    headers = {STEP_HEADER: "indicators", ERROR_HEADER: "sma_200 needs 200 bars"}
    await nats_client.publish(
        subjects.dead_letter(subjects.EXECUTION_REQUESTED), _request().model_dump_json().encode(), headers=headers
    )
    result = await asyncio.wait_for(running, 10)
    assert "DEAD LETTER from indicators: sma_200 needs 200 bars" in result.out
