"""What IB's order news means for the book: an ``ib_async`` order status as a venue event (pure).

IB reports an order's fate through ``orderStatus`` and through ``error(orderId, code, text)``;
``ib_async`` turns an error about a live order into a local ``Cancelled`` status with the
code in the trade log. So the code decides what a ``Cancelled`` really means:

* ``CANCEL_REFUSED_CODES`` (10147, 10148, 161): IB refused *our cancel*; the order lives on.
* ``ORDER_CANCELLED_CODES`` (202): IB cancelled the order (and says why).
* any other error on an order IB never acknowledged: IB **rejected** it, with its code and text.
* any other error on an acknowledged order: IB cancelled it (margin, DAY expiry...), with its text.

Warnings (``ValidationError`` status, e.g. 110 on a modification) leave the order live.
Executions come from ``commissionReport`` (which carries the execution with its commission).
The order vocabulary itself (``Order``, ``Contract``, statuses) is in :mod:`tradelane.ib.orders`.
"""

from __future__ import annotations

from datetime import datetime

from tradelane.broker.venue import Accepted, Cancelled, Rejected, VenueEvent
from tradelane.ib.codes import CANCEL_REFUSED_CODES, ORDER_CANCELLED_CODES
from tradelane.ib.orders import CANCELLED_STATUSES, INACTIVE_STATUS, WORKING_STATUSES, IbOrderError


def status_event(
    client_ref: str,
    status: str,
    error: IbOrderError | None,
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
        inactive = error or IbOrderError(0, "IB made the order inactive")
        return Rejected(client_ref, inactive.code or None, inactive.text, at)
    if status not in CANCELLED_STATUSES or (error is not None and error.code in CANCEL_REFUSED_CODES):
        return None
    if error is None:
        return Cancelled(client_ref, "cancelled at IB", at)
    if error.code in ORDER_CANCELLED_CODES or acknowledged:
        return Cancelled(client_ref, f"IB {error.code}: {error.text}", at)
    return Rejected(client_ref, error.code, error.text, at)
