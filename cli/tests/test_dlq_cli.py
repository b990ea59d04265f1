"""A poison message reaches the dead-letter stream after its deliveries, and `tradelane dlq` redrives it.

The failing step is owned by the test: a market-data handler that fails transiently while a
test-controlled condition holds (as when a provider is down), and succeeds once it is fixed.
The real lineage service runs beside it, so the lineage shows the step dead-lettered, then
redriven.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest
from nats.aio.client import Client as NatsClient

from cli.tests.conftest import Cli
from tests.support.waiting import eventually
from tradelane.contracts import subjects
from tradelane.contracts.events import BarsFetched, ExecutionRequested, Trigger
from tradelane.contracts.market import Bar, ResolvedSymbol
from tradelane.contracts.strategy import AssetType, BarSize, StrategyDefinition, SymbolRef
from tradelane.contracts.subjects import Step
from tradelane.lineage.app import build as build_lineage
from tradelane.runtime.bus import event_headers
from tradelane.runtime.errors import TransientStepError
from tradelane.runtime.payloads import bars_window
from tradelane.runtime.service import Service
from tradelane.runtime.settings import Settings

MAX_DELIVER = 3


class Provider:
    """The condition the test controls: down until fixed."""

    def __init__(self) -> None:
        self.down = True
        self.calls = 0
        self.served: list[UUID] = []

    async def on_request(self, msg: ExecutionRequested) -> BarsFetched:
        self.calls += 1
        if self.down:
            raise TransientStepError("provider down (test)")
        self.served.append(msg.execution_id)
        return msg.follow(
            BarsFetched,
            strategy=msg.strategy,
            symbol=ResolvedSymbol(
                conid=1, symbol="AAPL", exchange="NASDAQ", currency="USD", asset_type=AssetType.STOCK
            ),
            bars=bars_window(1, BarSize.DAY_1, (Bar(time=msg.as_of, open=1, high=2, low=0.5, close=1.5, volume=10),)),
            provider="test",
        )


@pytest.fixture
def poison_settings(settings: Settings) -> Settings:
    """The provider's transient failures are given up after MAX_DELIVER deliveries (a horizon of 0.1 s)."""
    return settings.model_copy(
        update={"max_deliver": MAX_DELIVER, "retry_horizon_seconds": 0.1, "retry_backoff_seconds": 0.1}
    )


@pytest.fixture
async def provider(poison_settings: Settings) -> AsyncIterator[Provider]:
    """The lineage service and a market-data step backed by the controllable provider."""
    provider = Provider()
    lineage = build_lineage(poison_settings)
    market_data = Service("market-data", poison_settings)
    market_data.step(Step.MARKET_DATA)(provider.on_request)
    await lineage.start()
    await market_data.start()
    yield provider
    await market_data.close()
    await lineage.close()


async def _request(client: NatsClient) -> ExecutionRequested:
    request = ExecutionRequested(
        execution_id=uuid4(),
        strategy_id=uuid4(),
        strategy=StrategyDefinition(name="s", symbol=SymbolRef(symbol="AAPL")),
        trigger=Trigger.MANUAL,
        as_of=datetime(2026, 11, 20, tzinfo=UTC),
    )
    await client.jetstream().publish(
        subjects.EXECUTION_REQUESTED, request.model_dump_json().encode(), headers=event_headers(request)
    )
    return request


async def _dead_letters(cli: Cli) -> list[dict[str, Any]]:
    result = await cli("dlq", "list", "--json")
    assert result.code == 0, result.err
    return [json.loads(line) for line in result.lines]


async def _execution(pool: asyncpg.Pool[Any], execution_id: UUID) -> tuple[str | None, list[tuple[str, str]]]:
    status = await pool.fetchval("SELECT status FROM lineage.executions WHERE execution_id = $1", execution_id)
    rows = await pool.fetch("SELECT step, status FROM lineage.steps WHERE execution_id = $1 ORDER BY id", execution_id)
    return status, [(row["step"], row["status"]) for row in rows]


async def test_a_poison_message_is_dead_lettered_after_its_deliveries_and_redriven_once_fixed(
    cli: Cli, provider: Provider, nats_client: NatsClient, pool: asyncpg.Pool[Any]
) -> None:
    request = await _request(nats_client)

    async def dead_lettered() -> bool:
        return bool(await _dead_letters(cli))

    await eventually(dead_lettered, "the message to be dead-lettered")
    [dead] = await _dead_letters(cli)
    assert provider.calls == MAX_DELIVER
    assert (dead["step"], dead["kind"], dead["deliveries"]) == ("market_data", "retries_exhausted", MAX_DELIVER)
    assert dead["execution_id"] == str(request.execution_id)
    assert "provider down (test)" in dead["error"]

    async def failed_in_the_lineage() -> bool:
        status, steps = await _execution(pool, request.execution_id)
        return status == "failed" and ("dead_letter", "failed") in steps

    await eventually(failed_in_the_lineage, "the lineage to fail the execution")

    provider.down = False
    redriven = await cli("dlq", "redrive", str(dead["id"]))
    assert redriven.code == 0, redriven.err
    assert redriven.out.startswith(f"redrove {dead['id']} to {subjects.EXECUTION_REQUESTED}")

    async def served() -> bool:
        _, steps = await _execution(pool, request.execution_id)
        return request.execution_id in provider.served and ("market_data", "succeeded") in steps

    await eventually(served, "the redriven request to be served")
    status, steps = await _execution(pool, request.execution_id)
    assert status == "running"  # reopened: its later steps will settle it
    assert ("redriven", "succeeded") in steps
    assert await _dead_letters(cli) == []


async def test_a_dead_letter_is_shown_with_its_original_body(
    cli: Cli, provider: Provider, nats_client: NatsClient
) -> None:
    request = await _request(nats_client)

    async def dead_lettered() -> bool:
        return bool(await _dead_letters(cli))

    await eventually(dead_lettered, "the message to be dead-lettered")
    [dead] = await _dead_letters(cli)
    shown = await cli("dlq", "show", str(dead["id"]))
    assert shown.code == 0
    assert "step:               market_data" in shown.out
    assert f'"execution_id": "{request.execution_id}"' in shown.out
    listed = await cli("dlq", "list")
    assert "retries_exhausted" in listed.lines[1]


async def test_redrive_all_sends_every_dead_letter_again(cli: Cli, provider: Provider, nats_client: NatsClient) -> None:
    requests = [await _request(nats_client) for _ in range(2)]

    async def both_dead_lettered() -> bool:
        return len(await _dead_letters(cli)) == 2

    await eventually(both_dead_lettered, "both messages to be dead-lettered")
    provider.down = False
    result = await cli("dlq", "redrive", "--all")
    assert result.code == 0, result.err
    assert "2 redriven, 0 not" in result.err

    async def both_served() -> bool:
        return sorted(provider.served) == sorted(r.execution_id for r in requests)

    await eventually(both_served, "both redriven requests to be served")


async def test_an_unknown_dead_letter_exits_2(cli: Cli, provider: Provider) -> None:
    for argv in (("dlq", "show", "999"), ("dlq", "redrive", "999")):
        result = await cli(*argv)
        assert result.code == 2
        assert "no dead letter 999" in result.err
