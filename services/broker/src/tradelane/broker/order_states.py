"""Where an order's status may go: one transition table, asked before every status the book stores.

Like NautilusTrader's order state machine, the table maps (the order's status, the status a
report asks for) to the status the order takes; a pair the table lacks is an invalid
transition. Nautilus raises on one and its execution engine logs a warning and drops the
event; here :func:`status_after_report` does the same without the exception: the status is
left as it is, a warning names the order and both statuses, and the handler carries on.

Reports arrive out of order and more than once (IB sends executions and statuses on separate
streams, reconciliation repeats what was already applied), so the table also says what such
reports mean:

* **A terminal status never moves back**: nothing leads from ``filled``, ``cancelled`` or
  ``rejected`` to a working status, and a late acceptance of one is refused.
* **A fill after a cancel** is a fill that raced the cancel: money changed hands, so the
  execution is recorded and the position and cash follow it whatever the status says (the
  table governs the status only). When it completes the order, the order is ``filled``, as in
  Nautilus (``CANCELED -> FILLED``, "real world possibility"). When it does not, the order stays
  ``cancelled`` with its filled quantity: Nautilus reopens it as ``PARTIALLY_FILLED``, but here
  a partially filled order is a working one (the paper venue fills it, exposure counts its
  remainder), and the venue works nothing of a cancelled order any more. A trader reads it as
  "cancelled, 40 of 100 filled". A fill on a ``filled`` (an over-fill) or ``rejected`` order is
  recorded the same way, its status kept, with a warning.
* **A partial after a full fill** (``filled -> partially_filled``) is refused: the status
  never drops below what the order reached.
* **A repeated report** that restates where the order stands, or a state it has passed (IB
  repeats ``Submitted`` while an order works and after a partial fill), maps to the current
  status: known, harmless, nothing changes and nothing is logged.

A repeated execution (same execution id) never reaches this table: the fills table is unique
on the execution id, and the broker skips an execution it has recorded before applying it.
The statuses an order is created with (``pending_submit``, or ``rejected`` by the risk
engine) are where it starts, not transitions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import structlog

from tradelane.contracts.book import OrderRecord
from tradelane.contracts.trading import OrderStatus

log = structlog.get_logger(__name__)

_PENDING_SUBMIT = OrderStatus.PENDING_SUBMIT
_ACCEPTED = OrderStatus.ACCEPTED
_PARTIALLY_FILLED = OrderStatus.PARTIALLY_FILLED
_FILLED = OrderStatus.FILLED
_PENDING_CANCEL = OrderStatus.PENDING_CANCEL
_CANCELLED = OrderStatus.CANCELLED
_REJECTED = OrderStatus.REJECTED

TRANSITIONS: Final[Mapping[tuple[OrderStatus, OrderStatus], OrderStatus]] = {
    # recorded, sent or not, not yet acknowledged
    (_PENDING_SUBMIT, _ACCEPTED): _ACCEPTED,
    (_PENDING_SUBMIT, _PARTIALLY_FILLED): _PARTIALLY_FILLED,  # an execution can overtake the acknowledgement
    (_PENDING_SUBMIT, _FILLED): _FILLED,
    (_PENDING_SUBMIT, _PENDING_CANCEL): _PENDING_CANCEL,  # a cancel asked before the venue acknowledged it
    (_PENDING_SUBMIT, _CANCELLED): _CANCELLED,  # cancelled before it was sent, or by the venue on arrival
    (_PENDING_SUBMIT, _REJECTED): _REJECTED,
    # working at the venue
    (_ACCEPTED, _ACCEPTED): _ACCEPTED,  # repeated acknowledgement
    (_ACCEPTED, _PARTIALLY_FILLED): _PARTIALLY_FILLED,
    (_ACCEPTED, _FILLED): _FILLED,
    (_ACCEPTED, _PENDING_CANCEL): _PENDING_CANCEL,
    (_ACCEPTED, _CANCELLED): _CANCELLED,
    (_ACCEPTED, _REJECTED): _REJECTED,  # IB makes an acknowledged order inactive
    (_PARTIALLY_FILLED, _ACCEPTED): _PARTIALLY_FILLED,  # a stale acknowledgement: IB repeats Submitted
    (_PARTIALLY_FILLED, _PARTIALLY_FILLED): _PARTIALLY_FILLED,
    (_PARTIALLY_FILLED, _FILLED): _FILLED,
    (_PARTIALLY_FILLED, _PENDING_CANCEL): _PENDING_CANCEL,
    (_PARTIALLY_FILLED, _CANCELLED): _CANCELLED,
    (_PARTIALLY_FILLED, _REJECTED): _REJECTED,
    # a cancel asked, not yet confirmed: the order may still fill
    (_PENDING_CANCEL, _ACCEPTED): _PENDING_CANCEL,  # a stale acknowledgement
    (_PENDING_CANCEL, _PENDING_CANCEL): _PENDING_CANCEL,
    (_PENDING_CANCEL, _PARTIALLY_FILLED): _PARTIALLY_FILLED,
    (_PENDING_CANCEL, _FILLED): _FILLED,
    (_PENDING_CANCEL, _CANCELLED): _CANCELLED,
    (_PENDING_CANCEL, _REJECTED): _REJECTED,
    # terminal: only a fill that raced the cancel still counts, and repeats change nothing
    (_CANCELLED, _CANCELLED): _CANCELLED,
    (_CANCELLED, _PARTIALLY_FILLED): _CANCELLED,
    (_CANCELLED, _FILLED): _FILLED,
    (_REJECTED, _REJECTED): _REJECTED,
}
"""(status now, status a report asks for) -> status the order takes; a missing pair is an invalid transition."""


def next_status(current: OrderStatus, reported: OrderStatus) -> OrderStatus | None:
    """The status an order in ``current`` takes on a report of ``reported``; None: the transition is invalid."""
    return TRANSITIONS.get((current, reported))


def status_after_report(order: OrderRecord, reported: OrderStatus) -> OrderStatus:
    """The status ``order`` takes on a report of ``reported``: the table's, or (invalid) its own with a warning.

    Never raises: a venue's report out of order must not stop the handler applying the next one.
    """
    after = next_status(order.status, reported)
    if after is None:
        log.warning(
            "order_transition_refused",
            order_id=str(order.id),
            client_ref=order.client_ref,
            from_status=order.status.value,
            to_status=reported.value,
        )
        return order.status
    return after
