"""A fake TWS on loopback, and market-data's IB connection and provider pointed at it."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

# The fake TWS is a plain module in the folder above (stdlib only), so any suite can put that
# folder on the path and import it, as this one does.
sys.path.insert(0, str(Path(__file__).parents[1]))

from fake_tws import FakeTws

from market_data_tests.tws_fixtures import BARS, CONTRACTS, FAST_RULES, endpoint_for
from tradelane.market_data.ib_connection import IbConnection
from tradelane.market_data.ib_provider import IbProvider
from tradelane.market_data.pacing import PacingLimiter


@pytest.fixture
async def tws() -> AsyncIterator[FakeTws]:
    async with FakeTws(CONTRACTS, BARS) as server:
        yield server


@pytest.fixture
async def connection(tws: FakeTws) -> AsyncIterator[IbConnection]:
    ib = IbConnection(endpoint_for(tws))
    await ib.start()
    yield ib
    await ib.close()


@pytest.fixture
def limiter() -> PacingLimiter:
    return PacingLimiter(FAST_RULES)


@pytest.fixture
def provider(connection: IbConnection, limiter: PacingLimiter) -> IbProvider:
    return IbProvider(connection, limiter, request_timeout=2.0, historical_timeout=5.0)
