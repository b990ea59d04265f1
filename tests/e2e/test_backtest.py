"""A backtest end to end: every decision an execution through the real service processes, each one answered."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from nats.aio.client import Client as NatsClient

from tests.e2e.conftest import System
from tests.support.waiting import eventually
from tradelane.contracts import subjects
from tradelane.contracts.backtest import BacktestReply, BacktestRequest
from tradelane.store.backtests import BacktestRepository
from tradelane.store.pool import create_pool

pytestmark = pytest.mark.e2e

START = datetime(2025, 3, 3, tzinfo=UTC)
END = datetime(2025, 3, 15, tzinfo=UTC)
"""Two weeks of the simulated market: ten daily bars of AAPL close in them (midnight after each weekday)."""


@pytest.fixture
async def system_pool(system: System) -> AsyncIterator[asyncpg.Pool[Any]]:
    pool = await create_pool(system.settings.database_url)
    yield pool
    await pool.close()


async def test_every_decision_of_a_backtest_runs_through_the_services_and_is_answered(
    system: System, nats_client: NatsClient, system_pool: asyncpg.Pool[Any]
) -> None:
    """The strategy (analyst 'auto', no LLM configured: the rules, so no second offline baseline), ten daily
    decisions, traded and reported."""
    async with system.client(timeout=10) as client:
        created = await client.post(
            "/api/strategies",
            json={
                "name": "e2e-backtest",
                "symbol": {"symbol": "AAPL"},
                "bar_size": "1 day",
                "duration": "1 Y",
                "schedule": {"cron": "0 0 1 1 *"},
                "render_png": False,
            },
        )
        assert created.status_code == 201, created.text
    request = BacktestRequest(strategy_id=created.json()["id"], start=START, end=END, cadence="bar")
    message = await nats_client.request(subjects.BACKTEST_CREATE, request.model_dump_json().encode(), timeout=30)
    reply = BacktestReply.model_validate_json(message.data)
    assert reply.outcome == "created", reply.reason
    assert reply.backtest_id is not None
    assert reply.estimate is not None
    assert (reply.estimate.decisions, reply.estimate.variants, reply.estimate.model_calls) == (
        10,
        ("base",),
        0,
    )

    backtests = BacktestRepository(system_pool)
    backtest_id = reply.backtest_id

    async def answered() -> bool:
        summary = await backtests.summary(backtest_id)
        assert summary is not None
        progress = summary.progress
        return progress.decisions_done + progress.decisions_failed == progress.decisions_total

    await eventually(answered, "every decision of the backtest answered", timeout=120)
    decisions = await backtests.decisions(backtest_id)
    assert len(decisions) == 10
    assert {decision.status for decision in decisions} == {"done"}, [d.error for d in decisions if d.error]
    assert all(decision.action in {"BUY", "SELL", "HOLD"} for decision in decisions)

    async def completed() -> bool:
        summary = await backtests.summary(backtest_id)
        assert summary is not None
        assert summary.status != "failed", summary.reason
        return summary.status == "completed"

    await eventually(completed, "the backtest's result", timeout=60)
    result = await backtests.result(backtest_id)
    assert result is not None
    assert [variant.variant for variant in result.variants] == ["base"]
    assert result.buy_and_hold.trades == 1
    async with system.client(timeout=10) as client:
        report = await client.get(f"/api/backtests/{backtest_id}/report")
        assert report.status_code == 200, report.text
        assert "<script" not in report.text
        assert "buy and hold" in report.text
