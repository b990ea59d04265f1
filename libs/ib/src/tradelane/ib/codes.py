"""IB's error and status codes as named sets, and what the IB adapter decides for each (pure).

TWS and IB Gateway report everything, from "your contract does not exist" to "the market
data farm is back", through one ``error(reqId, code, text)`` callback. Sorting the codes
into sets (as NautilusTrader's IB adapter does) turns each into a decision:

* the socket to TWS / IB Gateway is gone or unusable: **reconnect** with backoff; steps
  are nak'ed with a delay meanwhile;
* TWS / IB Gateway lost IB's servers (1100, 2110): **wait for servers**; it restores the
  link itself (1101 / 1102), and steps are nak'ed with a delay until it does;
* another session uses our client id (326): **change client id**: the connection is
  refused, retried with backoff (the other session may be our own previous process), and
  the status names the setting to change (``TRADELANE_IB_CLIENT_ID`` for market-data,
  ``TRADELANE_BROKER_IB_CLIENT_ID`` for the broker);
* a data farm changed state (2103-2108, 2157, 2158): **note farm**; requests go on, since
  IB reconnects farms on demand;
* a pacing violation (162 / 420 with "pacing violation"): **pace**: wait out the window,
  then retry the request;
* any other code tied to a request means the request is wrong (no such contract 200, not
  allowed for the account 203, invalid parameters 321, no market data subscription 354,
  historical data refused 162): **reject**: fail it once with IB's code and text, never retry;
* anything else in 2100-2199 and the listed warnings: **inform**: log and carry on.

Orders add two sets the broker decides by: IB refused our cancel (10147, 10148, 161) and IB
cancelled the order itself (202).

Codes from https://www.interactivebrokers.com/campus/ibkr-api-page/tws-api-error-codes/.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class Decision(StrEnum):
    """What the IB adapter (market-data's provider, the broker's venue) does about an IB code."""

    RECONNECT = "reconnect"
    WAIT_FOR_SERVERS = "wait_for_servers"
    RESUME = "resume"
    CHANGE_CLIENT_ID = "change_client_id"
    NOTE_FARM = "note_farm"
    PACE = "pace"
    REJECT = "reject"
    INFORM = "inform"


CONNECTIVITY_LOST_CODES: Final = frozenset({1100, 2110})
"""1100: TWS lost its connection to IB; 2110: TWS-to-server connectivity broken (restores itself)."""
CONNECTIVITY_RESTORED_CODES: Final = frozenset({1101, 1102})
"""1101: restored, market data subscriptions lost (orders must be reconciled); 1102: restored, data kept."""
DATA_LOST_ON_RESTORE_CODES: Final = frozenset({1101})
FARM_BROKEN_CODES: Final = frozenset({2103, 2105, 2157})
"""Market data farm, historical data (HMDS) farm and security definition farm disconnected."""
FARM_OK_CODES: Final = frozenset({2104, 2106, 2158})
FARM_INACTIVE_CODES: Final = frozenset({2107, 2108})
"""Farm connection inactive but available on demand."""
FARM_CODES: Final = FARM_BROKEN_CODES | FARM_OK_CODES | FARM_INACTIVE_CODES
NOT_CONNECTED_CODES: Final = frozenset({502, 504, 507, 1300})
"""502: could not connect; 504: not connected; 507: bad message length (socket corrupted);
1300: the socket port was reset (TWS moved to another port)."""
CLIENT_ID_IN_USE_CODES: Final = frozenset({326})
PACING_VIOLATION_CODES: Final = frozenset({162, 420})
"""These codes carry many messages; only those saying "pacing violation" are about pacing."""
CANCEL_REFUSED_CODES: Final = frozenset({10147, 10148, 161})
"""IB refused *our cancel* and the order lives on. 10147: no such order to cancel; 10148: order
cannot be cancelled in its state; 161: not in a cancellable state."""
ORDER_CANCELLED_CODES: Final = frozenset({202})
"""202: IB cancelled the order, with its reason."""
NO_SECURITY_DEFINITION_CODES: Final = frozenset({200})
WARNING_CODES: Final = frozenset({165, 2109, 2119, 2137, 2176, 10167})
"""Notes that never end a request: HMDS query message (165), order-event warnings, and
"displaying delayed market data" (10167)."""

_PACING_TEXT = "pacing violation"
_NO_DATA_TEXT = "returned no data"


def is_pacing_violation(code: int, text: str) -> bool:
    """IB refused a request because too many were sent too fast."""
    return code in PACING_VIOLATION_CODES and _PACING_TEXT in text.lower()


def is_no_data(code: int, text: str) -> bool:
    """IB's historical data service had no bars for the request (162 "HMDS query returned no data")."""
    return code == 162 and _NO_DATA_TEXT in text.lower()


_DECISION_OF_CODE: Final = {
    code: decision
    for codes, decision in (
        (CLIENT_ID_IN_USE_CODES, Decision.CHANGE_CLIENT_ID),
        (CONNECTIVITY_LOST_CODES, Decision.WAIT_FOR_SERVERS),
        (CONNECTIVITY_RESTORED_CODES, Decision.RESUME),
        (FARM_CODES, Decision.NOTE_FARM),
        (NOT_CONNECTED_CODES, Decision.RECONNECT),
    )
    for code in codes
}


def decide(code: int, text: str = "") -> Decision:
    """The decision for one IB code (and, where the code is overloaded, its text)."""
    if (decision := _DECISION_OF_CODE.get(code)) is not None:
        return decision
    if is_pacing_violation(code, text):
        return Decision.PACE
    if code in WARNING_CODES or 2100 <= code < 2200:
        return Decision.INFORM
    return Decision.REJECT


def farm_state(code: int) -> str | None:
    """'ok', 'inactive' or 'broken' for a farm status code; None for any other code."""
    if code in FARM_OK_CODES:
        return "ok"
    if code in FARM_INACTIVE_CODES:
        return "inactive"
    if code in FARM_BROKEN_CODES:
        return "broken"
    return None


def farm_name(text: str) -> str:
    """The farm a status message is about: 'usfarm' in 'Market data farm connection is OK:usfarm'.

    IB ends the name after a colon, or after the final full stop for "inactive" notices
    ("... available upon demand.ushmds"); a message without a name is returned whole.
    """
    for separator in (":", "."):
        _, found, name = text.rpartition(separator)
        if found and name.strip() and " " not in name.strip():
            return name.strip()
    return text.strip()
