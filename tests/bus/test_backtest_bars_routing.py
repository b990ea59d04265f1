"""A backtest's bars reach the indicators and the lineage, never the broker's subscription; live bars reach all three.

The real market-data (simulated provider: it decides the subject as it publishes), indicators, lineage and broker
services run in this process on a real NATS and PostgreSQL. The broker's bars subscription is a core NATS one: what
NATS delivered to it is counted by the subscription itself. market-data publishes on one connection, so NATS hands
the broker a backtest's bars, had its subscription matched them, before the live bars published after them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest
from faststream.nats.subscriber.usecases import CoreSubscriber
from nats.aio.client import Client as NatsClient
from nats.aio.subscription import Subscription

from tests.support.waiting import eventually
from tradelane.broker.app import build as build_broker
from tradelane.broker.config import BrokerSettings
from tradelane.contracts import subjects
from tradelane.contracts.envelope import BacktestTag, utc_now
from tradelane.contracts.events import BarsFetched, ExecutionRequested, Trigger
from tradelane.contracts.strategy import StrategyDefinition
from tradelane.indicators.app import build as build_indicators
from tradelane.lineage.app import build as build_lineage
from tradelane.market_data.app import build as build_market_data
from tradelane.market_data.config import MarketDataSettings
from tradelane.runtime.bus import event_headers
from tradelane.runtime.service import Service
from tradelane.runtime.settings import Settings
from tradelane.store.book.transactions import BookRepository

DECIDED_AT = datetime(2025, 3, 3, 21, 0, tzinfo=UTC)
STRATEGY = StrategyDefinition.model_validate({"name": "routing", "symbol": {"symbol": "AAPL"}, "duration": "1 Y"})


@pytest.fixture
async def broker(settings: Settings) -> AsyncIterator[Service]:
    service = build_broker(BrokerSettings.model_validate(settings.model_dump()))
    await service.start()
    yield service
    await service.close()


@pytest.fixture
async def pipeline_and_lineage(settings: Settings, broker: Service) -> AsyncIterator[None]:
    """market-data, indicators and the lineage, started after the broker (its bars subscription is listening)."""
    services = (
        build_lineage(settings),
        build_indicators(settings),
        build_market_data(MarketDataSettings.model_validate(settings.model_dump())),
    )
    for service in services:
        await service.start()
    yield
    for service in reversed(services):
        await service.close()


def _bars_subscription(broker: Service) -> Subscription:
    """The broker's core NATS subscription to fetched bars, as FastStream opened it."""
    [subscription] = [
        found.subscription
        for found in broker.broker.subscribers
        if isinstance(found, CoreSubscriber) and found.subject.template == subjects.MARKET_DATA_FETCHED
    ]
    assert isinstance(subscription, Subscription)
    return subscription


def _request(backtest: BacktestTag | None) -> ExecutionRequested:
    return ExecutionRequested(
        execution_id=uuid4(),
        strategy_id=uuid4(),
        strategy=STRATEGY,
        trigger=Trigger.MANUAL if backtest is None else Trigger.BACKTEST,
        as_of=utc_now() if backtest is None else backtest.decided_at,
        backtest=backtest,
    )


async def _publish(client: NatsClient, request: ExecutionRequested) -> None:
    await client.jetstream().publish(
        subjects.EXECUTION_REQUESTED,
        request.model_dump_json().encode(),
        headers=event_headers(request),
        stream=subjects.PIPELINE_STREAM,
    )


async def _steps(pool: asyncpg.Pool[Any], execution_id: UUID) -> dict[str, tuple[str, str]] | None:
    """Each step's subject and status as the lineage recorded them, once it has the indicators' output."""
    rows = await pool.fetch("SELECT step, subject, status FROM lineage.steps WHERE execution_id = $1", execution_id)
    steps = {row["step"]: (row["subject"], row["status"]) for row in rows}
    return steps if "indicators" in steps else None


@pytest.mark.usefixtures("pipeline_and_lineage")
async def test_a_backtests_bars_reach_the_indicators_and_the_lineage_and_not_the_brokers_subscription(
    nats_client: NatsClient, pool: asyncpg.Pool[Any], broker: Service
) -> None:
    bars_subscription = _bars_subscription(broker)
    backtest = _request(BacktestTag(backtest_id=uuid4(), variant="base", seq=0, decided_at=DECIDED_AT))
    await _publish(nats_client, backtest)
    recorded = await eventually(lambda: _steps(pool, backtest.execution_id), "the backtest's indicators")
    assert recorded["market_data"] == (subjects.MARKET_DATA_FETCHED_BACKTEST, "succeeded")
    assert recorded["indicators"] == (subjects.INDICATORS_COMPUTED, "succeeded")

    live = _request(None)
    await _publish(nats_client, live)
    recorded = await eventually(lambda: _steps(pool, live.execution_id), "the live execution's indicators")
    assert recorded["market_data"] == (subjects.MARKET_DATA_FETCHED, "succeeded")
    assert recorded["indicators"] == (subjects.INDICATORS_COMPUTED, "succeeded")
    stored = await nats_client.jetstream().get_last_msg(subjects.PIPELINE_STREAM, subjects.MARKET_DATA_FETCHED)
    conid = BarsFetched.model_validate_json(stored.data or b"").symbol.conid
    await eventually(lambda: BookRepository(pool).instrument(conid), "the live bars' mark in the broker's book")
    assert bars_subscription.delivered == 1  # the live bars; the backtest's, published first, never came
