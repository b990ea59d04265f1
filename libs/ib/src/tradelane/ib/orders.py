"""IB's order vocabulary in pure functions: tradelane's orders as ``ib_async`` objects, and back.

The broker sends an :class:`~tradelane.contracts.trading.OrderTicket` as the ``Order`` and
``Contract`` built here, and reads IB's positions, executions and order-log errors back through
:func:`instrument_of`, :func:`decimal_of` and :func:`error_of_log`. What an order status
*means* for the book is the broker's decision (``tradelane.broker.ib_orders``); the codes it
decides by are in :mod:`tradelane.ib.codes`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from ib_async import IB, CommissionReport, Contract, Fill, Order, RequestError, Trade

from tradelane.contracts.market import ResolvedSymbol
from tradelane.contracts.strategy import AssetType
from tradelane.contracts.trading import OrderTicket

__all__ = [
    "CANCELLED_STATUSES", "IB", "INACTIVE_STATUS", "PAPER_ACCOUNT_PREFIX", "WORKING_STATUSES", "CommissionReport",
    "Contract", "Fill", "IbOrderError", "Order", "RequestError", "Trade", "contract_of", "decimal_of", "error_of_log",
    "instrument_of", "is_paper_account", "order_of",
]  # fmt: skip
"""The ``ib_async`` types an order venue works with are named here, so that only this library imports ``ib_async``."""

WORKING_STATUSES: Final = frozenset({"PreSubmitted", "Submitted"})
CANCELLED_STATUSES: Final = frozenset({"Cancelled", "ApiCancelled"})
INACTIVE_STATUS: Final = "Inactive"
PAPER_ACCOUNT_PREFIX: Final = "D"
"""IB paper-trading account ids start with D (DU..., DF...); live ones do not."""

_SECURITY_TYPE = {AssetType.ETF: "STK"}
_LOG_PREFIX = re.compile(r"^(Error|Warning) -?\d+, reqId -?\d+: ")
_ASSET_TYPE_OF = {"STK": AssetType.STOCK, "CASH": AssetType.FOREX, "FUT": AssetType.FUTURE, "IND": AssetType.INDEX}


@dataclass(frozen=True)
class IbOrderError:
    """The last error IB reported about one order (the connection's is ``tradelane.contracts.symbols.IbError``)."""

    code: int
    text: str


def error_of_log(code: int, message: str) -> IbOrderError:
    """IB's error from an ``ib_async`` trade-log entry, without the ``Error 202, reqId 4:`` prefix it adds."""
    return IbOrderError(code, _LOG_PREFIX.sub("", message, count=1))


def is_paper_account(account: str) -> bool:
    return account.upper().startswith(PAPER_ACCOUNT_PREFIX)


def contract_of(instrument: ResolvedSymbol) -> Contract:
    """The IB contract of an instrument (by conid; the rest helps TWS route and log)."""
    return Contract(
        conId=instrument.conid,
        symbol=instrument.symbol,
        secType=_SECURITY_TYPE.get(instrument.asset_type, instrument.asset_type.value),
        exchange=instrument.exchange,
        currency=instrument.currency,
    )


def order_of(ticket: OrderTicket, *, account: str, parent_id: int, transmit: bool) -> Order:
    """The IB order of a ticket; its ``orderRef`` is our client reference."""
    order = Order(
        action=ticket.side.value,
        totalQuantity=float(ticket.quantity),
        orderType=ticket.order_type.value,
        tif=ticket.tif.value,
        orderRef=ticket.client_ref,
        account=account,
        transmit=transmit,
        parentId=parent_id,
    )
    if ticket.limit_price is not None:
        order.lmtPrice = float(ticket.limit_price)
    if ticket.stop_price is not None:
        order.auxPrice = float(ticket.stop_price)
    return order


def instrument_of(contract: Contract) -> ResolvedSymbol | None:
    """Our instrument for an IB contract (None for kinds tradelane does not trade, e.g. options)."""
    asset_type = AssetType.CRYPTO if contract.secType == "CRYPTO" else _ASSET_TYPE_OF.get(contract.secType)
    if asset_type is None or not contract.conId:
        return None
    return ResolvedSymbol(
        conid=contract.conId,
        symbol=contract.symbol,
        exchange=contract.primaryExchange or contract.exchange or "SMART",
        currency=contract.currency or "USD",
        asset_type=asset_type,
    )


def decimal_of(value: float) -> Decimal:
    """A float from IB as the decimal it was meant to be (through its shortest repr)."""
    return Decimal(repr(value)).normalize() if value else Decimal(0)
