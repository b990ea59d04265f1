"""An IB connection dropped mid-request under a burst: market data reconnects and every run still ends once.

The system's market data come from the fake TWS (the real ``ib_async`` client talks to it);
the fake closes the connection when the next historical-data request arrives, without
answering it, as a TWS restart or a network cut does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from tests.faults.case import fault_case
from tests.faults.conftest import healthy_system, started_system
from tests.faults.report import FaultTable
from tests.faults.system import UpSystem
from tests.support.waiting import eventually
from tradelane.ib.testing import AAPL, FakeTws, In, daily_bars

pytestmark = [pytest.mark.faults, pytest.mark.e2e, pytest.mark.timeout(420)]

TODAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


@pytest.fixture(scope="module")
async def tws() -> AsyncIterator[FakeTws]:
    async with FakeTws([AAPL], {AAPL.conid: daily_bars(TODAY - timedelta(days=420), 300, 200.0)}) as server:
        yield server


@pytest.fixture(scope="module")
async def ib_system(tmp_path_factory: pytest.TempPathFactory, tws: FakeTws) -> AsyncIterator[UpSystem]:
    env = {
        "TRADELANE_MARKET_DATA_PROVIDER": "ib",
        "TRADELANE_IB_HOST": tws.host,
        "TRADELANE_IB_PORT": str(tws.port),
        "TRADELANE_IB_CLIENT_ID": "31",
        "TRADELANE_IB_TIMEOUT": "3",
        "TRADELANE_IB_RECONNECT_INITIAL_SECONDS": "0.2",
        "TRADELANE_IB_RECONNECT_MAX_SECONDS": "1",
        # IB's own pacing (60 historical requests per 10 minutes, none identical within 15 s) would
        # spread a 50-run burst over minutes; the fake has no such limit
        "TRADELANE_IB_IDENTICAL_REQUEST_GAP_SECONDS": "0",
        "TRADELANE_IB_HISTORICAL_REQUESTS": "10000",
    }
    async with started_system(tmp_path_factory, "faults-ib", env) as system:
        yield system


async def _ib_connected(system: UpSystem, timeout: float = 30) -> None:
    async with system.client() as client:

        async def connected() -> bool:
            response = await client.get("/api/ib/status")
            return response.status_code == 200 and bool(response.json()["connected"])

        await eventually(connected, "market-data to connect to the fake TWS", timeout=timeout)


async def test_an_ib_connection_dropped_mid_request_under_a_burst(
    ib_system: UpSystem, tws: FakeTws, fault_table: FaultTable
) -> None:
    system = await healthy_system(ib_system)
    await _ib_connected(system)
    strategy = {
        "name": "faults-ib",
        "symbol": {"symbol": "AAPL"},
        "duration": "1 Y",
        "render_png": False,
        "schedule": {"cron": "0 0 1 1 *"},
        "analysis": {"analyst": "offline"},
    }
    async with system.client() as client:
        created = await client.post("/api/strategies", json=strategy)
    assert created.status_code == 201, created.text
    sessions = tws.sessions_started

    async def drop_on_the_next_request() -> None:
        tws.drop_on_next(In.REQ_HISTORICAL_DATA)

    await fault_case(
        system, fault_table, "IB connection dropped mid-request", UUID(created.json()["id"]), drop_on_the_next_request
    )
    assert tws.sessions_started > sessions, "the connection was never dropped, or market data never reconnected"
