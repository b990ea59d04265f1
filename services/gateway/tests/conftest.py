"""The gateway app against this test's real NATS and Postgres, and an HTTP client for it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from tradelane.gateway.app import create_app
from tradelane.gateway.config import GatewaySettings
from tradelane.gateway.state import GatewayState
from tradelane.runtime.settings import Settings


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    """The app with its lifespan entered: pool open and migrated, broker connected, streams provisioned."""
    application = create_app(GatewaySettings.model_validate(settings.model_dump()))
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
def state(app: FastAPI) -> GatewayState:
    gateway: GatewayState = app.state.gateway
    return gateway


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as http:
        yield http
