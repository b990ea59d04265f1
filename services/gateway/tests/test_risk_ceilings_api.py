"""PUT /api/risk/limits cannot raise a limit above the operator's hard ceilings; GET /api/risk shows them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import httpx
import pytest

from services.gateway.tests.conftest import ApiToken, http_client
from tradelane.contracts.ceilings import TradingCeilings
from tradelane.gateway.app import create_app
from tradelane.gateway.config import GatewaySettings
from tradelane.runtime.settings import Settings


@pytest.fixture
async def strict(settings: Settings, api_token: ApiToken) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway with a 30,000 ceiling on the position notional (as TRADELANE_TRADING_CEILINGS would set)."""
    ceilings = TradingCeilings(max_position_notional=Decimal(30_000))
    app = create_app(GatewaySettings.model_validate({**settings.model_dump(), "trading_ceilings": ceilings}))
    async with (
        app.router.lifespan_context(app),
        http_client(app, await api_token("trade")) as client,
    ):
        yield client


async def test_a_limit_above_its_ceiling_is_a_422_naming_the_ceiling(strict: httpx.AsyncClient) -> None:
    response = await strict.put("/api/risk/limits", json={"max_position_notional": "30000.01"})
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "max_position_notional"]
    assert error["msg"] == (
        "max_position_notional 30000.01 is above the ceiling max_position_notional = 30000, which only the operator "
        "can raise (environment variable TRADELANE_TRADING_CEILINGS)"
    )
    risk = (await strict.get("/api/risk")).json()
    assert Decimal(risk["limits"]["max_position_notional"]) == Decimal(25_000)  # nothing was stored


async def test_every_limit_above_its_ceiling_is_named(client: httpx.AsyncClient) -> None:
    response = await client.put(
        "/api/risk/limits", json={"risk_per_trade": "0.5", "max_open_positions": 1000, "daily_loss_limit": "1e9"}
    )
    assert response.status_code == 422
    assert [error["loc"][-1] for error in response.json()["detail"]] == [
        "risk_per_trade",
        "max_open_positions",
        "daily_loss_limit",
    ]


async def test_a_limit_at_its_ceiling_is_stored(strict: httpx.AsyncClient) -> None:
    response = await strict.put("/api/risk/limits", json={"max_position_notional": "30000"})
    assert response.status_code == 200, response.text
    assert Decimal(response.json()["limits"]["max_position_notional"]) == Decimal(30_000)


async def test_the_ceilings_are_shown_with_the_limits(strict: httpx.AsyncClient) -> None:
    ceilings = (await strict.get("/api/risk")).json()["ceilings"]
    assert Decimal(ceilings["max_position_notional"]) == Decimal(30_000)
    assert Decimal(ceilings["max_order_notional"]) == Decimal(100_000)
