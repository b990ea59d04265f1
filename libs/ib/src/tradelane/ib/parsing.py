"""Between tradelane's contracts and IB's: build requests, read replies (pure, no connection).

Kept apart from the provider, as NautilusTrader keeps its IB parsing, so every rule here is
tested without a socket.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from ib_async import BarData, Contract, ContractDescription, ContractDetails

from tradelane.contracts.market import Bar
from tradelane.contracts.strategy import MAX_BARS, AssetType, SymbolRef, WhatToShow
from tradelane.contracts.symbols import SymbolDetails, SymbolSummary
from tradelane.ib.errors import ProviderRequestError, SymbolNotFoundError

SEC_TYPE_OF: dict[AssetType, str] = {
    AssetType.STOCK: "STK",
    AssetType.ETF: "STK",
    AssetType.FOREX: "CASH",
    AssetType.FUTURE: "FUT",
    AssetType.INDEX: "IND",
    AssetType.CRYPTO: "CRYPTO",
}
"""IB has no ETF secType: ETFs are stocks whose contract details say stockType 'ETF'."""

_ASSET_TYPE_OF: dict[str, AssetType] = {
    "STK": AssetType.STOCK,
    "CASH": AssetType.FOREX,
    "FUT": AssetType.FUTURE,
    "IND": AssetType.INDEX,
    "CRYPTO": AssetType.CRYPTO,
}

_DEFAULT_VENUE: dict[AssetType, str] = {AssetType.FOREX: "IDEALPRO", AssetType.CRYPTO: "PAXOS"}
"""Where SMART is no venue: forex trades on IDEALPRO, crypto on PAXOS."""
_NO_SMART = frozenset({AssetType.FUTURE, AssetType.INDEX})
"""Futures and indices are not smart-routed: SMART means "any exchange" and IB lists them all."""


def contract_for(ref: SymbolRef) -> Contract:
    """The IB contract to look up for a strategy's symbol reference.

    A conid is enough on its own. Stocks and ETFs are smart-routed, with a named exchange
    used as the primary exchange (IB's advice for unambiguous stock contracts). A forex
    pair may be written ``EUR.USD``, ``EUR/USD`` or ``EURUSD``.
    """
    if ref.conid is not None:
        return Contract(conId=ref.conid)
    symbol, currency = ref.symbol, ref.currency
    if ref.asset_type == AssetType.FOREX:
        symbol, currency = _forex_pair(symbol, currency)
    exchange = ref.exchange.upper()
    contract = Contract(secType=SEC_TYPE_OF[ref.asset_type], symbol=symbol, currency=currency)
    if ref.asset_type in {AssetType.STOCK, AssetType.ETF}:
        contract.exchange = "SMART"
        contract.primaryExchange = "" if exchange == "SMART" else exchange
    elif exchange == "SMART":
        contract.exchange = "" if ref.asset_type in _NO_SMART else _DEFAULT_VENUE[ref.asset_type]
    else:
        contract.exchange = exchange
    return contract


def _forex_pair(symbol: str, currency: str) -> tuple[str, str]:
    for separator in "./":
        if separator in symbol:
            base, _, quote = symbol.partition(separator)
            return base, quote
    if len(symbol) == 6 and symbol.isalpha():
        return symbol[:3], symbol[3:]
    return symbol, currency


def describe_ref(ref: SymbolRef) -> str:
    """How error messages name what a strategy asked for."""
    if ref.conid is not None:
        return f"conid {ref.conid}"
    return f"{ref.symbol} ({ref.asset_type.value} on {ref.exchange} in {ref.currency})"


def choose_details(ref: SymbolRef, candidates: list[ContractDetails], today: date) -> ContractDetails:
    """The one contract ``ref`` means among IB's candidates.

    A future named without an expiry means the front month: the first one not yet expired
    (reference a conid to pin another). Anything else must be unique, or the error lists
    the candidates and says how to tell them apart.
    """
    asked = describe_ref(ref)
    if not candidates:
        msg = f"IB has no contract for {asked}; check the symbol, exchange, currency and type, or use a conid"
        raise SymbolNotFoundError(msg)
    if ref.conid is None:
        sec_type = SEC_TYPE_OF[ref.asset_type]
        candidates = [details for details in candidates if _contract(details).secType == sec_type] or candidates
    if ref.conid is None and ref.asset_type == AssetType.FUTURE and len(candidates) > 1:
        return _front_month(ref, candidates, today)
    if len(candidates) == 1:
        return candidates[0]
    listed = "; ".join(_label(details) for details in candidates[:10])
    more = f" and {len(candidates) - 10} more" if len(candidates) > 10 else ""
    msg = (
        f"{asked} is ambiguous at IB: {listed}{more}. Set the exchange and currency that tell them "
        "apart, or reference the conid"
    )
    raise SymbolNotFoundError(msg)


def _front_month(ref: SymbolRef, candidates: list[ContractDetails], today: date) -> ContractDetails:
    horizon = today.strftime("%Y%m%d")
    live = [
        details
        for details in candidates
        if (details.realExpirationDate or _contract(details).lastTradeDateOrContractMonth) >= horizon
    ]
    if not live:
        msg = f"every future IB lists for {describe_ref(ref)} has expired; reference the conid of a live one"
        raise SymbolNotFoundError(msg)
    return min(live, key=lambda details: _contract(details).lastTradeDateOrContractMonth)


def _contract(details: ContractDetails) -> Contract:
    contract = details.contract
    if contract is None:
        msg = "IB sent contract details without a contract"
        raise ProviderRequestError(msg)
    return contract


def _label(details: ContractDetails) -> str:
    contract = _contract(details)
    venue = contract.primaryExchange or contract.exchange
    expiry = f" expiring {contract.lastTradeDateOrContractMonth}" if contract.lastTradeDateOrContractMonth else ""
    return f"conid {contract.conId} {contract.secType} on {venue} in {contract.currency}{expiry}"


def asset_type_of(sec_type: str, stock_type: str = "") -> AssetType | None:
    """tradelane's asset type for an IB secType (None for kinds tradelane does not handle, e.g. OPT)."""
    if sec_type == "STK" and stock_type.upper() == "ETF":
        return AssetType.ETF
    return _ASSET_TYPE_OF.get(sec_type)


def details_model(details: ContractDetails) -> SymbolDetails:
    """IB's contract details as the symbol cache keeps them.

    IB always states a minimum tick for tradable contracts; for the rare one it sends as 0
    (some indices) the cent is used, since a price increment must be positive.
    """
    contract = _contract(details)
    asset_type = asset_type_of(contract.secType, details.stockType)
    if asset_type is None:
        supported = ", ".join(sorted(_ASSET_TYPE_OF))
        msg = f"IB contract conid {contract.conId} is a {contract.secType}; tradelane handles {supported}"
        raise ProviderRequestError(msg)
    return SymbolDetails(
        conid=contract.conId,
        symbol=contract.symbol,
        asset_type=asset_type,
        exchange=contract.exchange or contract.primaryExchange,
        primary_exchange=contract.primaryExchange,
        currency=contract.currency,
        description=details.longName,
        min_tick=details.minTick if details.minTick > 0 else 0.01,
        local_symbol=contract.localSymbol,
        trading_class=contract.tradingClass,
        multiplier=contract.multiplier,
        last_trade_date=contract.lastTradeDateOrContractMonth,
        industry=details.industry,
        category=details.category,
        subcategory=details.subcategory,
        time_zone=details.timeZoneId,
        valid_exchanges=tuple(exchange for exchange in details.validExchanges.split(",") if exchange),
    )


def summaries(descriptions: list[ContractDescription]) -> tuple[SymbolSummary, ...]:
    """IB's symbol search hits as summaries, in IB's order, leaving out kinds tradelane does not handle."""
    found: list[SymbolSummary] = []
    for description in descriptions:
        contract = description.contract
        if contract is None or contract.conId <= 0:
            continue
        asset_type = asset_type_of(contract.secType)
        if asset_type is None:
            continue
        found.append(
            SymbolSummary(
                conid=contract.conId,
                symbol=contract.symbol,
                asset_type=asset_type,
                primary_exchange=contract.primaryExchange,
                currency=contract.currency,
                description=contract.description,
                derivative_types=tuple(description.derivativeSecTypes),
            )
        )
    return tuple(found)


def what_to_show_for(asset_type: AssetType, what_to_show: WhatToShow) -> WhatToShow:
    """The price type to ask IB for: forex has no trades, so TRADES becomes MIDPOINT there."""
    if asset_type == AssetType.FOREX and what_to_show == "TRADES":
        return "MIDPOINT"
    return what_to_show


def bar_time(value: date | datetime) -> datetime:
    """A bar's start as an aware UTC datetime: IB sends daily and longer bars as a date."""
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


def bars_from_ib(ib_bars: list[BarData]) -> tuple[Bar, ...]:
    """IB's bars as tradelane's, oldest first, at most ``MAX_BARS``.

    A bar without prices (IB sends -1 or 0 when there was no quote) is left out; a missing
    volume (-1, e.g. for MIDPOINT) becomes 0.
    """
    bars = [
        Bar(
            time=bar_time(bar.date),
            open=bar.open,
            high=bar.high,
            low=bar.low,
            close=bar.close,
            volume=max(bar.volume, 0.0),
        )
        for bar in ib_bars
        if min(bar.open, bar.high, bar.low, bar.close) > 0
    ]
    bars.sort(key=lambda bar: bar.time)
    return tuple(bars[-MAX_BARS:])
