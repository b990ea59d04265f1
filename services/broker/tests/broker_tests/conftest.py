"""The broker against this test's real Postgres and NATS, with a clock the test moves."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import httpx
import pytest
from faststream.nats import NatsBroker

from tradelane.broker.app import build
from tradelane.broker.config import BrokerSettings
from tradelane.gateway.app import create_app
from tradelane.gateway.config import GatewaySettings
from tradelane.runtime.service import Service
from tradelane.runtime.settings import Settings
from tradelane.store.book.transactions import BookRepository
from tradelane.store.strategies import StrategyRepository

from .support import Clock, PaperTrading, start_paper_broker


@pytest.fixture
def repository(pool: asyncpg.Pool[Any]) -> BookRepository:
    return BookRepository(pool)


@pytest.fixture
def strategies(pool: asyncpg.Pool[Any]) -> StrategyRepository:
    return StrategyRepository(pool)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def paper(
    repository: BookRepository, nats_broker: NatsBroker, clock: Clock, strategies: StrategyRepository
) -> PaperTrading:
    return await start_paper_broker(repository, nats_broker, clock, strategies)


@pytest.fixture
def broker_settings(settings: Settings) -> BrokerSettings:
    """The broker's settings on this test's servers, with quick chores."""
    return BrokerSettings.model_validate(
        {**settings.model_dump(), "broker_housekeeping_seconds": 0.5, "paper_commission_minimum": "0"}
    )


@pytest.fixture
async def broker_service(broker_settings: BrokerSettings) -> AsyncIterator[Service]:
    """The real broker service, in this process: subscribers, book, paper venue and chores."""
    service = build(broker_settings)
    await service.start()
    yield service
    await service.close()


@pytest.fixture
async def gateway(settings: Settings, api_token: Callable[..., Awaitable[str]]) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway app with its lifespan entered, and an HTTP client for it with an admin token."""
    app = create_app(GatewaySettings.model_validate(settings.model_dump()))
    headers = {"Authorization": f"Bearer {await api_token('admin')}"}
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://localhost", headers=headers
        ) as client,
    ):
        yield client
