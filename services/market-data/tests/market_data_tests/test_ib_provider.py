"""The IB provider against the fake TWS: the real ib_async client on a loopback socket."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

import pytest

from market_data_tests.tws_fixtures import (
    AAPL_BARS,
    ACME_ARCA,
    ACME_NYSE,
    AS_OF,
    ES_JUNE,
    EURUSD,
    EURUSD_BARS,
    FAST_RULES,
    SPX,
    SPY,
    endpoint_for,
)
from tests.support.waiting import eventually
from tradelane.contracts.strategy import AssetType, BarSize, SymbolRef
from tradelane.ib.connection import IbConnection
from tradelane.ib.pacing import PacingLimiter
from tradelane.ib.parsing import bar_time
from tradelane.ib.provider import IbProvider
from tradelane.ib.testing import AAPL, CLIENT_ID_IN_USE, PACING_VIOLATION, FakeTws, In
from tradelane.market_data.provider import (
    MarketDataProvider,
    ProviderRequestError,
    ProviderUnavailableError,
    SymbolNotFoundError,
)


def ref(symbol: str, **fields: object) -> SymbolRef:
    return SymbolRef.model_validate({"symbol": symbol, **fields})


async def test_ib_provider_satisfies_the_provider_protocol(provider: IbProvider) -> None:
    typed: MarketDataProvider = provider
    assert typed.name == "ib"


async def test_connects_and_reports_server_version_and_accounts(connection: IbConnection, tws: FakeTws) -> None:
    status = connection.status()
    assert status.connected
    assert (status.server_version, status.accounts, status.client_id) == (178, ("DU1234567",), 11)
    assert status.farms == {"usfarm": "ok", "ushmds": "ok", "secdefnj": "ok"}
    assert tws.client_ids == [11]


async def test_resolves_a_stock_by_symbol(provider: IbProvider) -> None:
    symbol = await provider.resolve(ref("aapl"))
    assert (symbol.conid, symbol.symbol, symbol.exchange, symbol.asset_type) == (
        AAPL.conid,
        "AAPL",
        "SMART",
        AssetType.STOCK,
    )
    assert (symbol.description, symbol.min_tick) == ("APPLE INC", 0.01)


async def test_a_named_exchange_becomes_the_primary_exchange_of_a_smart_routed_stock(
    provider: IbProvider, tws: FakeTws
) -> None:
    symbol = await provider.resolve(ref("ACME", exchange="NYSE"))
    assert symbol.conid == ACME_NYSE.conid
    sent = tws.requests_of(In.REQ_CONTRACT_DETAILS)[-1].fields
    assert (sent[10], sent[11]) == ("SMART", "NYSE")


async def test_resolves_an_etf_from_its_stock_type(provider: IbProvider) -> None:
    assert (await provider.resolve(ref("SPY", asset_type="ETF"))).asset_type == AssetType.ETF


async def test_resolves_a_forex_pair_on_idealpro(provider: IbProvider) -> None:
    symbol = await provider.resolve(ref("EUR.USD", asset_type="CASH"))
    assert (symbol.conid, symbol.exchange, symbol.currency, symbol.min_tick) == (
        EURUSD.conid,
        "IDEALPRO",
        "USD",
        0.00005,
    )


async def test_resolves_an_index_on_any_exchange(provider: IbProvider) -> None:
    assert (await provider.resolve(ref("SPX", asset_type="IND"))).conid == SPX.conid


async def test_a_future_without_expiry_resolves_to_the_front_month(tws: FakeTws, connection: IbConnection) -> None:
    provider = IbProvider(connection, PacingLimiter(FAST_RULES), today=lambda: date(2026, 3, 2))
    symbol = await provider.resolve(ref("ES", asset_type="FUT"))
    assert (symbol.conid, symbol.min_tick) == (ES_JUNE.conid, 0.25)


async def test_resolves_by_conid_alone(provider: IbProvider, tws: FakeTws) -> None:
    symbol = await provider.resolve(ref("ignored", conid=SPY.conid))
    assert symbol.symbol == "SPY"
    assert tws.requests_of(In.REQ_CONTRACT_DETAILS)[-1].fields[3] == str(SPY.conid)


async def test_an_unknown_symbol_fails_with_ibs_code_and_message(provider: IbProvider) -> None:
    with pytest.raises(
        SymbolNotFoundError, match=r"NOPE \(STK on SMART in USD\).*error 200: No security definition"
    ) as caught:
        await provider.resolve(ref("NOPE"))
    assert caught.value.code == 200


async def test_an_ambiguous_symbol_lists_the_candidates(provider: IbProvider) -> None:
    with pytest.raises(SymbolNotFoundError, match="ambiguous") as caught:
        await provider.resolve(ref("ACME"))
    message = str(caught.value)
    assert f"conid {ACME_NYSE.conid} STK on NYSE" in message
    assert f"conid {ACME_ARCA.conid} STK on ARCA" in message


async def test_an_unknown_conid_is_not_found(provider: IbProvider) -> None:
    with pytest.raises(SymbolNotFoundError, match="conid 424242"):
        await provider.details(424242)


async def test_details_by_conid_carry_ibs_description(provider: IbProvider) -> None:
    details = await provider.details(AAPL.conid)
    assert (details.symbol, details.primary_exchange, details.industry) == ("AAPL", "NASDAQ", "Technology")
    assert details.valid_exchanges == ("SMART", "NASDAQ")


async def test_bars_equal_the_fixture(provider: IbProvider) -> None:
    symbol = await provider.resolve(ref("AAPL"))
    bars = await provider.bars(symbol, BarSize.DAY_1, "1 Y", AS_OF)
    expected = [bar for bar in AAPL_BARS if AS_OF - timedelta(days=365) <= bar.time < AS_OF]
    assert len(bars) == len(expected) > 200
    assert [(b.time, b.open, b.high, b.low, b.close, b.volume) for b in bars] == [
        (e.time, e.open, e.high, e.low, e.close, e.volume) for e in expected
    ]


async def test_bars_request_carries_the_strategys_options(provider: IbProvider, tws: FakeTws) -> None:
    symbol = await provider.resolve(ref("AAPL"))
    await provider.bars(symbol, BarSize.DAY_1, "30 D", AS_OF, use_rth=False, what_to_show="ADJUSTED_LAST")
    sent = tws.requests_of(In.REQ_HISTORICAL_DATA)[-1].fields
    assert sent[2] == str(AAPL.conid)
    assert (sent[15], sent[16], sent[17], sent[18], sent[19]) == (
        "20260302 22:00:00 UTC",
        "1 day",
        "30 D",
        "0",
        "ADJUSTED_LAST",
    )


async def test_forex_bars_ask_for_midpoints_and_have_no_volume(provider: IbProvider, tws: FakeTws) -> None:
    symbol = await provider.resolve(ref("EUR.USD", asset_type="CASH"))
    bars = await provider.bars(symbol, BarSize.HOUR_1, "2 D", AS_OF)
    assert tws.requests_of(In.REQ_HISTORICAL_DATA)[-1].fields[19] == "MIDPOINT"
    expected = [bar for bar in EURUSD_BARS if AS_OF - timedelta(days=2) <= bar.time < AS_OF]
    assert [bar.time for bar in bars] == [bar.time for bar in expected]
    assert {bar.volume for bar in bars} == {0.0}


async def test_no_data_from_ib_is_an_empty_answer(provider: IbProvider) -> None:
    symbol = await provider.resolve(ref("SPX", asset_type="IND"))
    assert await provider.bars(symbol, BarSize.DAY_1, "1 M", AS_OF) == ()


async def test_an_ib_refusal_fails_with_its_code_and_text(provider: IbProvider, tws: FakeTws) -> None:
    symbol = await provider.resolve(ref("AAPL"))
    tws.fail_next(
        In.REQ_HISTORICAL_DATA, 321, "Error validating request.-'bP' : cause - Historical data bar size invalid"
    )
    with pytest.raises(ProviderRequestError, match="error 321: Error validating request") as caught:
        await provider.bars(symbol, BarSize.MIN_1, "1 D", AS_OF)
    assert caught.value.code == 321


async def test_a_pacing_violation_is_retried_after_the_pause(provider: IbProvider, tws: FakeTws) -> None:
    symbol = await provider.resolve(ref("AAPL"))
    tws.fail_next(In.REQ_HISTORICAL_DATA, *PACING_VIOLATION)
    bars = await provider.bars(symbol, BarSize.DAY_1, "30 D", AS_OF)
    assert bars
    first, second = tws.requests_of(In.REQ_HISTORICAL_DATA)
    assert second.at - first.at >= FAST_RULES.violation_pause * 0.95


async def test_symbol_search_returns_ibs_matches_without_unsupported_kinds(provider: IbProvider) -> None:
    found = await provider.search("AAPL")
    assert [(hit.conid, hit.symbol, hit.asset_type) for hit in found] == [(AAPL.conid, "AAPL", AssetType.STOCK)]
    assert found[0].description == "APPLE INC"


async def test_symbol_search_matches_names(provider: IbProvider) -> None:
    assert [hit.symbol for hit in await provider.search("spdr")] == ["SPY"]


async def test_while_disconnected_requests_are_unavailable_with_a_retry_delay(
    tws: FakeTws, connection: IbConnection, provider: IbProvider
) -> None:
    await tws.stop()
    await eventually(lambda: not connection.connected, "the connection to notice TWS stopped", timeout=5)
    with pytest.raises(ProviderUnavailableError, match=r"not connected to TWS / IB Gateway at 127\.0\.0\.1") as caught:
        await provider.resolve(ref("AAPL"))
    assert caught.value.retry_after is not None
    assert caught.value.retry_after > 0


async def test_reconnects_after_the_connection_drops(
    tws: FakeTws, connection: IbConnection, provider: IbProvider
) -> None:
    await tws.drop_all()
    await eventually(lambda: tws.sessions_started >= 2, "a second session at TWS", timeout=5)
    async with asyncio.timeout(5):
        await connection.wait_connected()
    assert (await provider.resolve(ref("AAPL"))).conid == AAPL.conid
    last_error = connection.status().last_error
    assert last_error is not None
    assert last_error.decision == "reconnect"


async def test_a_request_cut_by_a_drop_is_unavailable_then_succeeds_after_reconnecting(
    tws: FakeTws, connection: IbConnection, provider: IbProvider
) -> None:
    symbol = await provider.resolve(ref("AAPL"))
    tws.drop_on_next(In.REQ_HISTORICAL_DATA)
    with pytest.raises(ProviderUnavailableError, match="dropped during the"):
        await provider.bars(symbol, BarSize.DAY_1, "30 D", AS_OF)
    async with asyncio.timeout(5):
        await connection.wait_connected()
    assert len(await provider.bars(symbol, BarSize.DAY_1, "30 D", AS_OF)) > 15


async def test_lost_ib_servers_make_requests_unavailable_until_restored(
    tws: FakeTws, connection: IbConnection, provider: IbProvider
) -> None:
    await tws.send_error(1100, "Connectivity between IB and Trader Workstation has been lost.")
    await eventually(lambda: connection.status().servers_connected is False, "IB's servers to be lost", timeout=5)
    with pytest.raises(ProviderUnavailableError, match=r"lost its connection to IB's servers \(1100\)"):
        await provider.resolve(ref("AAPL"))
    await tws.send_error(1102, "Connectivity between IB and Trader Workstation has been restored - data maintained.")
    await eventually(lambda: connection.status().servers_connected is True, "IB's servers to be back", timeout=5)
    assert (await provider.resolve(ref("AAPL"))).conid == AAPL.conid


async def test_a_client_id_in_use_is_refused_reported_and_retried_until_free(tws: FakeTws) -> None:
    tws.reserved_client_ids.add(7)
    connection = IbConnection(endpoint_for(tws, client_id=7))
    try:
        await connection.start()
        status = connection.status()
        assert not status.connected
        assert status.last_error is not None
        assert (status.last_error.code, status.last_error.decision) == (326, "change_client_id")
        assert "TRADELANE_IB_CLIENT_ID" in status.last_error.message
        assert CLIENT_ID_IN_USE[1] in status.last_error.message
        tws.reserved_client_ids.clear()
        async with asyncio.timeout(5):
            await connection.wait_connected()
        assert tws.client_ids == [7]
    finally:
        await connection.close()


async def test_a_first_attempt_against_nothing_does_not_fail_start(tws: FakeTws) -> None:
    await tws.stop()
    connection = IbConnection(endpoint_for(tws))
    try:
        await connection.start()
        status = connection.status()
        assert not status.connected
        assert status.next_attempt_at is not None
        assert status.next_attempt_at > datetime.now(UTC) - timedelta(seconds=1)
        assert status.last_error is not None
        assert "could not connect" in status.last_error.message
    finally:
        await connection.close()


def test_daily_bar_dates_become_utc_midnight() -> None:
    assert bar_time(date(2026, 3, 2)) == datetime(2026, 3, 2, tzinfo=UTC)
