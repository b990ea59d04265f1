"""Between tradelane's contracts and IB's: pure rules, no socket."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from ib_async import BarData, Contract, ContractDescription, ContractDetails

from tradelane.contracts.strategy import MAX_BARS, AssetType, SymbolRef
from tradelane.ib.errors import ProviderRequestError, SymbolNotFoundError
from tradelane.ib.parsing import (
    asset_type_of,
    bar_time,
    bars_from_ib,
    choose_details,
    contract_for,
    details_model,
    summaries,
    what_to_show_for,
)

TODAY = date(2026, 3, 2)


def ref(symbol: str, **fields: object) -> SymbolRef:
    return SymbolRef.model_validate({"symbol": symbol, **fields})


def details(
    conid: int,
    symbol: str = "X",
    sec_type: str = "STK",
    *,
    exchange: str = "SMART",
    primary: str = "",
    currency: str = "USD",
    expiry: str = "",
    long_name: str = "",
    valid_exchanges: str = "",
    time_zone: str = "",
) -> ContractDetails:
    contract = Contract(
        secType=sec_type,
        conId=conid,
        symbol=symbol,
        exchange=exchange,
        primaryExchange=primary,
        currency=currency,
        lastTradeDateOrContractMonth=expiry,
    )
    return ContractDetails(
        contract=contract, minTick=0.01, longName=long_name, validExchanges=valid_exchanges, timeZoneId=time_zone
    )


def test_a_conid_is_looked_up_alone() -> None:
    contract = contract_for(ref("ANY", conid=42, exchange="NYSE"))
    assert (contract.conId, contract.symbol, contract.exchange) == (42, "", "")


def test_a_stock_is_smart_routed() -> None:
    contract = contract_for(ref("AAPL"))
    assert (contract.secType, contract.symbol, contract.exchange, contract.primaryExchange) == (
        "STK",
        "AAPL",
        "SMART",
        "",
    )


def test_a_named_stock_exchange_becomes_the_primary_exchange() -> None:
    contract = contract_for(ref("IBM", exchange="nyse"))
    assert (contract.exchange, contract.primaryExchange) == ("SMART", "NYSE")


def test_an_etf_is_an_ib_stock() -> None:
    assert contract_for(ref("SPY", asset_type="ETF")).secType == "STK"


@pytest.mark.parametrize("written", ["EUR.USD", "EUR/USD", "EURUSD"])
def test_a_forex_pair_may_be_written_three_ways(written: str) -> None:
    contract = contract_for(ref(written, asset_type="CASH", currency="JPY"))
    assert (contract.secType, contract.symbol, contract.currency, contract.exchange) == (
        "CASH",
        "EUR",
        "USD",
        "IDEALPRO",
    )


def test_a_forex_base_currency_keeps_the_quote_currency_field() -> None:
    contract = contract_for(ref("GBP", asset_type="CASH", currency="CHF"))
    assert (contract.symbol, contract.currency) == ("GBP", "CHF")


@pytest.mark.parametrize("asset_type", ["FUT", "IND"])
def test_smart_means_any_exchange_for_futures_and_indices(asset_type: str) -> None:
    assert contract_for(ref("ES", asset_type=asset_type)).exchange == ""


def test_crypto_trades_on_paxos_unless_told_otherwise() -> None:
    assert contract_for(ref("BTC", asset_type="CRYPTO")).exchange == "PAXOS"
    assert contract_for(ref("BTC", asset_type="CRYPTO", exchange="ZEROHASH")).exchange == "ZEROHASH"


def test_no_candidates_is_not_found() -> None:
    with pytest.raises(SymbolNotFoundError, match=r"IB has no contract for ZZZ \(STK on SMART in USD\)"):
        choose_details(ref("ZZZ"), [], TODAY)


def test_one_candidate_is_the_contract() -> None:
    only = details(1)
    assert choose_details(ref("X"), [only], TODAY) is only


def test_candidates_of_another_type_are_left_out() -> None:
    stock, option = details(1), details(2, sec_type="OPT")
    assert choose_details(ref("X"), [option, stock], TODAY) is stock


def test_several_candidates_are_ambiguous_and_listed() -> None:
    candidates = [details(1, primary="NYSE"), details(2, primary="TSE", currency="CAD")]
    with pytest.raises(SymbolNotFoundError, match=r"ambiguous at IB: conid 1 STK on NYSE.*conid 2 STK on TSE in CAD"):
        choose_details(ref("X"), candidates, TODAY)


def test_a_future_without_expiry_is_the_first_unexpired_one() -> None:
    expired = details(1, sec_type="FUT", expiry="20260220")
    june = details(2, sec_type="FUT", expiry="20260618")
    march = details(3, sec_type="FUT", expiry="20260320")
    assert choose_details(ref("ES", asset_type="FUT"), [expired, june, march], TODAY) is march


def test_futures_that_all_expired_are_not_found() -> None:
    old = [details(n, sec_type="FUT", expiry=f"2025{n:02d}20") for n in (3, 6)]
    with pytest.raises(SymbolNotFoundError, match="has expired"):
        choose_details(ref("ES", asset_type="FUT"), old, TODAY)


@pytest.mark.parametrize(
    ("sec_type", "stock_type", "expected"),
    [
        ("STK", "COMMON", AssetType.STOCK),
        ("STK", "ETF", AssetType.ETF),
        ("CASH", "", AssetType.FOREX),
        ("FUT", "", AssetType.FUTURE),
        ("IND", "", AssetType.INDEX),
        ("CRYPTO", "", AssetType.CRYPTO),
        ("OPT", "", None),
    ],
)
def test_asset_types_from_ib_sec_types(sec_type: str, stock_type: str, expected: AssetType | None) -> None:
    assert asset_type_of(sec_type, stock_type) == expected


def test_details_of_an_unsupported_kind_are_refused() -> None:
    with pytest.raises(ProviderRequestError, match="conid 5 is a WAR"):
        details_model(details(5, sec_type="WAR"))


def test_details_keep_ibs_fields() -> None:
    model = details_model(
        details(7, "ES", "FUT", exchange="CME", expiry="20260618", long_name="E-mini S&P 500",
                valid_exchanges="CME,QBALGO", time_zone="US/Central")
    )  # fmt: skip
    assert (model.asset_type, model.exchange, model.last_trade_date, model.description) == (
        AssetType.FUTURE,
        "CME",
        "20260618",
        "E-mini S&P 500",
    )
    assert (model.valid_exchanges, model.time_zone) == (("CME", "QBALGO"), "US/Central")


def test_search_hits_skip_kinds_tradelane_does_not_handle() -> None:
    hits = summaries(
        [
            ContractDescription(Contract(secType="STK", conId=1, symbol="A", currency="USD"), ["OPT"]),
            ContractDescription(Contract(secType="BOND", conId=2, symbol="B", currency="USD")),
            ContractDescription(None),
        ]
    )
    assert [(hit.conid, hit.derivative_types) for hit in hits] == [(1, ("OPT",))]


def test_forex_trades_become_midpoints_and_other_choices_stay() -> None:
    assert what_to_show_for(AssetType.FOREX, "TRADES") == "MIDPOINT"
    assert what_to_show_for(AssetType.FOREX, "BID") == "BID"
    assert what_to_show_for(AssetType.STOCK, "TRADES") == "TRADES"


def test_bar_times_become_aware_utc() -> None:
    eastern = timezone(timedelta(hours=-5))
    assert bar_time(datetime(2026, 3, 2, 9, 30, tzinfo=eastern)) == datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
    assert bar_time(date(2026, 3, 2)) == datetime(2026, 3, 2, tzinfo=UTC)


def test_bars_without_prices_are_left_out_and_missing_volume_is_zero() -> None:
    bars = bars_from_ib(
        [
            BarData(date(2026, 3, 3), 10, 11, 9, 10.5, -1),
            BarData(date(2026, 3, 2), -1, -1, -1, -1, 0),
            BarData(date(2026, 2, 27), 9, 10, 8, 9.5, 100),
        ]
    )
    assert [(bar.time.day, bar.volume) for bar in bars] == [(27, 100), (3, 0)]


def test_at_most_max_bars_are_kept_the_latest() -> None:
    start = datetime(2020, 1, 1, tzinfo=UTC)
    many = [BarData(start + timedelta(minutes=i), 1, 1, 1, 1, 1) for i in range(MAX_BARS + 10)]
    bars = bars_from_ib(many)
    assert len(bars) == MAX_BARS
    assert bars[0].time == start + timedelta(minutes=10)
