"""IB's order vocabulary in pure functions: our orders as ``ib_async`` objects, IB's order news as venue events.

IB reports an order's fate through ``orderStatus`` and through ``error(orderId, code, text)``;
``ib_async`` turns an error about a live order into a local ``Cancelled`` status with the
code in the trade log. So the code decides what a ``Cancelled`` really means:

* ``CANCEL_REFUSED_CODES`` (10147, 10148, 161): IB refused *our cancel*; the order lives on.
* ``ORDER_CANCELLED_CODES`` (202): IB cancelled the order (and says why).
* any other error on an order IB never acknowledged: IB **rejected** it, with its code and text.
* any other error on an acknowledged order: IB cancelled it (margin, DAY expiry...), with its text.

Warnings (``ValidationError`` status, e.g. 110 on a modification) leave the order live.
Executions come from ``commissionReport`` (which carries the execution with its commission).
Codes from https://www.interactivebrokers.com/campus/ibkr-api-page/tws-api-error-codes/.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Final

from ib_async import Contract, Order

from tradelane.broker.venue import Accepted, Cancelled, Rejected, VenueEvent
from tradelane.contracts.market import ResolvedSymbol
from tradelane.contracts.strategy import AssetType
from tradelane.contracts.trading import OrderTicket

CANCEL_REFUSED_CODES: Final = frozenset({10147, 10148, 161})
"""10147: no such order to cancel; 10148: order cannot be cancelled in its state; 161: not in a cancellable state."""
ORDER_CANCELLED_CODES: Final = frozenset({202})
"""202: order cancelled, with IB's reason."""
CONNECTIVITY_LOST_CODES: Final = frozenset({1100, 2110})
"""1100: TWS lost its connection to IB's servers; 2110: TWS-to-server connectivity broken."""
CONNECTIVITY_RESTORED_CODES: Final = frozenset({1101, 1102})
"""1101: restored, data lost (orders must be reconciled); 1102: restored, data kept."""

WORKING_STATUSES: Final = frozenset({"PreSubmitted", "Submitted"})
CANCELLED_STATUSES: Final = frozenset({"Cancelled", "ApiCancelled"})
INACTIVE_STATUS: Final = "Inactive"
PAPER_ACCOUNT_PREFIX: Final = "D"
"""IB paper-trading account ids start with D (DU..., DF...); live ones do not."""

_SECURITY_TYPE = {AssetType.ETF: "STK"}
_LOG_PREFIX = re.compile(r"^(Error|Warning) -?\d+, reqId -?\d+: ")
_ASSET_TYPE_OF = {"STK": AssetType.STOCK, "CASH": AssetType.FOREX, "FUT": AssetType.FUTURE, "IND": AssetType.INDEX}


@dataclass(frozen=True)
class IbError:
    """The last error IB reported about an order."""

    code: int
    text: str


def error_of_log(code: int, message: str) -> IbError:
    """IB's error from an ``ib_async`` trade-log entry, without the ``Error 202, reqId 4:`` prefix it adds."""
    return IbError(code, _LOG_PREFIX.sub("", message, count=1))


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


def status_event(
    client_ref: str,
    status: str,
    error: IbError | None,
    *,
    acknowledged: bool,
    broker_order_id: str,
    at: datetime,
) -> VenueEvent | None:
    """What an order status from ``ib_async`` means for the book (None: nothing to record).

    ``acknowledged`` says whether IB had already accepted the order (then an error cancels
    rather than rejects it).
    """
    if status in WORKING_STATUSES:
        return Accepted(client_ref, broker_order_id, at)
    if status == INACTIVE_STATUS:
        inactive = error or IbError(0, "IB made the order inactive")
        return Rejected(client_ref, inactive.code or None, inactive.text, at)
    if status not in CANCELLED_STATUSES or (error is not None and error.code in CANCEL_REFUSED_CODES):
        return None
    if error is None:
        return Cancelled(client_ref, "cancelled at IB", at)
    if error.code in ORDER_CANCELLED_CODES or acknowledged:
        return Cancelled(client_ref, f"IB {error.code}: {error.text}", at)
    return Rejected(client_ref, error.code, error.text, at)


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
