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
from typing import Final, Literal
from uuid import NAMESPACE_URL, UUID, uuid5

from pydantic import AwareDatetime, Field

from tradelane.contracts.envelope import Contract, Envelope
from tradelane.contracts.events import Action
from tradelane.contracts.fields import MAX_MONEY, Moment, PlainDecimal, Price, Quantity, Text

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


_OUTCOMES: Final = uuid5(NAMESPACE_URL, "https://tradelane/outcomes")
AutomaticSource = Literal["traded", "shadow"]


def outcome_message_id(signal_id: UUID, source: AutomaticSource) -> UUID:
    """The message id of a signal's automatic outcome: the same however often it is judged, so it is recorded once."""
    return uuid5(_OUTCOMES, f"{signal_id}/{source}")


class OutcomeRecorded(Envelope):
    """A signal's outcome: of the signal's execution, caused by the signal (``causation_id`` is its id).

    An automatic one (traded, shadow) has a message id derived from the signal and its source
    (:func:`outcome_message_id`), so judging it again publishes a duplicate that is dropped. A
    manual one may be recorded again, to correct it: the latest replaces the earlier manual one.
    """

    signal_id: UUID = Field(description="message_id of the signal (SignalGenerated) it is the outcome of.")
    source: OutcomeSource = Field(description="'traded' (fills), 'shadow' (bars that followed it) or 'manual'.")
    kind: OutcomeKind
    hit: bool | None = Field(description="Whether the signal was right (R above 0; a HOLD: flat); None: unknown.")
    exit_price: PlainDecimal | None = Field(default=None, description="Where it ended (a HOLD: the last close).")
    exit_at: AwareDatetime | None = Field(default=None, description="When: the exit bar's start, or the last fill.")
    r_multiple: PlainDecimal | None = Field(default=None, description="The result in R; None for a HOLD.")
    mfe_r: PlainDecimal | None = Field(default=None, description="Maximum favourable excursion in R (shadow only).")
    mae_r: PlainDecimal | None = Field(default=None, description="Maximum adverse excursion in R (shadow only).")
    pnl: PlainDecimal | None = Field(default=None, description="Profit or loss net of fees (traded or manual).")
    fees: PlainDecimal | None = Field(default=None, description="Commissions paid (traded or manual).")
    quantity: PlainDecimal | None = Field(default=None, description="Units traded (traded or manual).")
    bars: int = Field(default=0, ge=0, description="Complete bars the shadow outcome looked at.")
    note: str = Field(default="", description="How it was decided, in words.")
    recorded_by: str | None = Field(default=None, description="Who recorded a manual outcome (the token's name).")


class ManualOutcome(Contract):
    """An outcome recorded by hand: a trade of the signal closed outside tradelane."""

    exit_price: Price = Field(description="The average price the trade was closed at.")
    exit_at: Moment = Field(description="When it was closed: not before the signal, not in the future.")
    quantity: Quantity | None = Field(default=None, description="Units traded; with it, the P&L is computed.")
    fees: PlainDecimal | None = Field(default=None, ge=0, le=MAX_MONEY, decimal_places=6, description="Commissions.")
    note: Text = Field(default="", max_length=500, description="Anything worth keeping about it.")


def trade_pnl(action: Action, entry: Decimal, exit_price: Decimal, quantity: Decimal, fees: Decimal) -> Decimal:
    """The P&L of a trade entered at ``entry`` and left at ``exit_price``: the move in the signal's favour times
    the quantity, net of fees."""
    direction = 1 if action is Action.BUY else -1
    return direction * (exit_price - entry) * quantity - fees
