"""The fake TWS itself: a plain ib_async client completes its whole start-up against it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from ib_async import IB, Stock

from tests.support.waiting import eventually
from tradelane.ib.testing import AAPL, FakeTws, In


@pytest.fixture
async def tws() -> AsyncIterator[FakeTws]:
    async with FakeTws([AAPL]) as server:
        yield server


START_UP_REQUESTS = {
    In.START_API,
    In.REQ_AUTO_OPEN_ORDERS,
    In.REQ_POSITIONS,
    In.REQ_OPEN_ORDERS,
    In.REQ_COMPLETED_ORDERS,
    In.REQ_ACCOUNT_UPDATES,
    In.REQ_ACCOUNT_UPDATES_MULTI,
    In.REQ_EXECUTIONS,
}


async def test_ib_connect_synchronises_every_start_up_request(tws: FakeTws) -> None:
    """Client id 0 with an account makes IB.connect send every start-up request it has."""
    ib = IB()
    try:
        await ib.connectAsync(tws.host, tws.port, clientId=0, timeout=3, account="DU1234567", raiseSyncErrors=True)
        assert ib.isConnected()
        assert ib.managedAccounts() == ["DU1234567"]
        assert {received.message_id for received in tws.requests} == START_UP_REQUESTS
    finally:
        ib.disconnect()


async def test_a_second_session_with_the_same_client_id_is_refused(tws: FakeTws) -> None:
    first, second = IB(), IB()
    errors: list[int] = []
    second.errorEvent += lambda _req_id, code, _text, _contract: errors.append(code)
    try:
        await first.connectAsync(tws.host, tws.port, clientId=5, timeout=3)
        connecting = asyncio.ensure_future(second.connectAsync(tws.host, tws.port, clientId=5, timeout=3))
        await eventually(lambda: 326 in errors, "error 326 (client id in use) for the second session", timeout=3)
        connecting.cancel()
        await asyncio.gather(connecting, return_exceptions=True)
        assert tws.client_ids == [5]
    finally:
        first.disconnect()
        second.disconnect()


async def test_contract_details_answer_from_the_fixtures(tws: FakeTws) -> None:
    ib = IB()
    try:
        await ib.connectAsync(tws.host, tws.port, clientId=3, timeout=3)
        [details] = await ib.reqContractDetailsAsync(Stock("AAPL", "SMART", "USD"))
        assert details.contract is not None
        assert (details.contract.conId, details.longName, details.minTick) == (265598, "APPLE INC", 0.01)
    finally:
        ib.disconnect()
