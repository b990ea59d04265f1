"""What became of a signal: its outcome, and the R it achieved.

Every actionable signal gets an outcome. A traded one from the broker's fills; one that was not
traded a *shadow* outcome from the bars that followed it (as if it had been entered at its entry
price when it was made); a HOLD a directional one (did price stay put). A person may record one by
hand beside the automatic one. The ledger keeps one outcome per signal and source.

R is the result in units of the risk the signal took: the distance from its entry to its stop.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Literal

from tradelane.contracts.events import Action

R_PLACES = Decimal("0.0001")
"""R is kept to four decimals."""


class OutcomeKind(StrEnum):
    """How a signal ended."""

    TARGET = "target"
    """The first target was reached before the stop."""
    STOP = "stop"
    """The stop was reached first (a bar touching both counts as the stop; a gap through it exits at the open)."""
    EXPIRED = "expired"
    """Neither within the signal's life: marked at the last close before it expired."""
    CLOSED = "closed"
    """Traded, and closed by fills other than its bracket's stop or target alone."""
    FLAT = "flat"
    """A HOLD, and price stayed within its threshold: the HOLD was right."""
    MOVED = "moved"
    """A HOLD, and price moved beyond its threshold: the HOLD missed a move."""
    MANUAL = "manual"
    """Recorded by hand (a trade closed outside tradelane)."""


OutcomeSource = Literal["traded", "shadow", "manual"]
"""Where an outcome came from: the broker's fills, the bars that followed an untraded signal, or a person."""


def realised_r(action: Action, entry: Decimal, stop: Decimal, exit_price: Decimal) -> Decimal:
    """The R of leaving a BUY or SELL entered at ``entry`` at ``exit_price``: the move in its favour over its risk.

    A BUY from 100 with its stop at 98 that exits at 104 made 2R; stopped at 98, -1R.
    """
    if action is Action.HOLD:
        msg = "a HOLD takes no risk, so it has no R"
        raise ValueError(msg)
    risk = abs(entry - stop)
    if risk == 0:
        msg = f"entry {entry} and stop {stop} are equal: the signal took no risk, so it has no R"
        raise ValueError(msg)
    direction = 1 if action is Action.BUY else -1
    return (direction * (exit_price - entry) / risk).quantize(R_PLACES)


def is_hit(r_multiple: Decimal) -> bool:
    """Whether a directional signal was right: it made money (R above 0)."""
    return r_multiple > 0
