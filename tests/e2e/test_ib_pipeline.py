"""The whole system with ``TRADELANE_MARKET_DATA_PROVIDER=ib``, pointed at the fake TWS on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import System, finished_execution, running_system
from tests.support.waiting import eventually
from tradelane.ib.testing import AAPL, FakeTws, daily_bars
from tradelane.runtime.settings import Settings

pytestmark = pytest.mark.e2e

TODAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
AAPL_BARS = daily_bars(TODAY - timedelta(days=420), 300, 200.0)


@pytest.fixture
async def tws() -> AsyncIterator[FakeTws]:
    async with FakeTws([AAPL], {AAPL.conid: AAPL_BARS}) as server:
        yield server


@pytest.fixture
async def ib_system(settings: Settings, tws: FakeTws) -> AsyncIterator[System]:
    async with running_system(
        settings,
        TRADELANE_MARKET_DATA_PROVIDER="ib",
        TRADELANE_IB_HOST=tws.host,
        TRADELANE_IB_PORT=str(tws.port),
        TRADELANE_IB_CLIENT_ID="31",
        TRADELANE_IB_TIMEOUT="3",
        TRADELANE_IB_RECONNECT_INITIAL_SECONDS="0.2",
        TRADELANE_IB_RECONNECT_MAX_SECONDS="1",
        TRADELANE_IB_IDENTICAL_REQUEST_GAP_SECONDS="0",
    ) as system:
        yield system


async def _ib_connected(client: httpx.AsyncClient, timeout: float = 30) -> dict[str, Any]:
    async def connected() -> dict[str, Any] | None:
        response = await client.get("/api/ib/status")
        return dict(response.json()) if response.status_code == 200 and response.json()["connected"] else None

    return await eventually(connected, "market-data to connect to the fake TWS", timeout=timeout)


async def _run(client: httpx.AsyncClient, strategy_id: str, timeout: float = 60) -> dict[str, Any]:
    run = await client.post(f"/api/strategies/{strategy_id}/run")
    assert run.status_code == 202, run.text
    return await finished_execution(client, run.json()["execution_id"], timeout)


async def test_strategies_run_on_the_ib_servers_bars_and_a_dropped_connection_heals(
    ib_system: System, tws: FakeTws
) -> None:
    async with ib_system.client(timeout=30) as client:
        status = await _ib_connected(client)
        assert (status["provider"], status["server_version"], status["accounts"]) == ("ib", 178, ["DU1234567"])

        found = (await client.get("/api/symbols/search", params={"q": "aapl"})).json()
        assert [(hit["conid"], hit["symbol"]) for hit in found["results"]] == [(AAPL.conid, "AAPL")]

        strategy = {
            "name": "ib-e2e",
            "symbol": {"symbol": "AAPL"},
            "duration": "1 Y",
            "schedule": {"cron": "0 0 1 1 *"},
        }
        created = await client.post("/api/strategies", json=strategy)
        assert created.status_code == 201, created.text
        execution = await _run(client, created.json()["id"])
        assert execution["status"] in {"completed", "rejected"}, execution
        market_data = next(step for step in execution["steps"] if step["step"] == "market_data")
        assert market_data["output"]["provider"] == "ib"
        window_start = datetime.fromisoformat(execution["started_at"]) - timedelta(days=365)
        expected = [bar.close for bar in AAPL_BARS if bar.time >= window_start]
        path = f"/api/executions/{execution['execution_id']}/steps/market_data/output"
        window = market_data["output"]["bars"]
        bars = (await client.get(path)).json()["payloads"][window["sha256"]]
        assert [bar["close"] for bar in bars] == expected[-len(bars) :]
        assert len(bars) == window["count"] >= len(expected) - 1

        sessions = tws.sessions_started
        await tws.drop_all()
        await eventually(lambda: tws.sessions_started != sessions, "market-data to reconnect", timeout=30)
        await _ib_connected(client)
        again = await _run(client, created.json()["id"])
        assert again["status"] in {"completed", "rejected"}, again
