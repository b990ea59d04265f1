"""A fake TWS on loopback, and market-data's IB connection and provider pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from market_data_tests.tws_fixtures import BARS, CONTRACTS, FAST_RULES, endpoint_for
from tradelane.ib.connection import IbConnection
from tradelane.ib.pacing import PacingLimiter
from tradelane.ib.provider import IbProvider
from tradelane.ib.testing import FakeTws


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
