"""The gateway app against this test's real NATS and Postgres, and HTTP clients for it.

``client`` is an admin, addressed to ``localhost`` (a Host the default allow-list accepts);
``client_of("read")`` gives a client with a new token of another scope, ``anonymous`` one
with no token at all. The backtests' tests (API and pages) share a stored ``strategy_id``,
the backtests' ``repository`` and a fake ``backtester`` on the real bus.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from uuid import UUID

import httpx
import pytest
from fastapi import FastAPI
from nats.aio.client import Client as NatsClient

from tests.support.backtests import FakeBacktester, fake_backtester
from tradelane.contracts.strategy import StrategyDefinition, SymbolRef
from tradelane.gateway.app import create_app
from tradelane.gateway.config import GatewaySettings
from tradelane.gateway.state import GatewayState
from tradelane.runtime.settings import Settings
from tradelane.store.backtests import BacktestRepository

BASE_URL = "http://localhost:8000"

ApiToken = Callable[..., Awaitable[str]]
"""The root conftest's ``api_token`` fixture: ``await api_token("trade")`` is a new token's secret."""
ClientOf = Callable[[str], Awaitable[httpx.AsyncClient]]


def http_client(app: FastAPI, token: str | None = None) -> httpx.AsyncClient:
    """A client of ``app``, with ``token`` as its bearer token if given."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL, headers=headers)


@pytest.fixture
def gateway_settings(settings: Settings) -> GatewaySettings:
    """The app's settings: this test's servers and the gateway's defaults (a module overrides this to change one)."""
    return GatewaySettings.model_validate(settings.model_dump())


@pytest.fixture
async def app(gateway_settings: GatewaySettings) -> AsyncIterator[FastAPI]:
    """The app with its lifespan entered: pool open and migrated, broker connected, streams provisioned."""
    application = create_app(gateway_settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
def state(app: FastAPI) -> GatewayState:
    gateway: GatewayState = app.state.gateway
    return gateway


@pytest.fixture
async def client(app: FastAPI, api_token: ApiToken) -> AsyncIterator[httpx.AsyncClient]:
    async with http_client(app, await api_token("admin", name="test-admin")) as http:
        yield http


@pytest.fixture
async def anonymous(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with http_client(app) as http:
        yield http


@pytest.fixture
async def client_of(app: FastAPI, api_token: ApiToken) -> AsyncIterator[ClientOf]:
    """``await client_of("operate")``: a client with a new token of that scope (closed after the test).

    The first token of a scope is named ``test-<scope>``, later ones ``test-<scope>-2`` and so on.
    """
    made: dict[str, int] = {}
    async with AsyncExitStack() as stack:

        async def make(scope: str) -> httpx.AsyncClient:
            made[scope] = made.get(scope, 0) + 1
            name = f"test-{scope}" if made[scope] == 1 else f"test-{scope}-{made[scope]}"
            return await stack.enter_async_context(http_client(app, await api_token(scope, name=name)))

        yield make


@pytest.fixture
async def strategy_id(state: GatewayState) -> UUID:
    """A stored strategy to backtest: AAPL, the defaults otherwise."""
    stored = await state.strategies.create(StrategyDefinition(name="aapl-daily", symbol=SymbolRef(symbol="AAPL")))
    return stored.id


@pytest.fixture
def repository(state: GatewayState) -> BacktestRepository:
    """The backtests' rows, written here as the backtester writes them."""
    return BacktestRepository(state.pool)


@pytest.fixture
async def backtester(nats_client: NatsClient, repository: BacktestRepository) -> AsyncIterator[FakeBacktester]:
    """A fake backtester answering its request subjects on this test's NATS."""
    async with fake_backtester(nats_client, repository) as fake:
        yield fake
