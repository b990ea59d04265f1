"""Comparing the book's positions and cash with what the venue holds (pure).

After a restart or a reconnect the venue's account is the truth: a position or a cash balance
that differs from the book is corrected to the venue's, and the difference is recorded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from tradelane.broker.venue import CashCorrected, PositionCorrected
from tradelane.contracts.market import ResolvedSymbol
from tradelane.contracts.portfolio import PositionRecord

CASH_TOLERANCE = Decimal("0.01")


@dataclass(frozen=True)
class VenuePosition:
    instrument: ResolvedSymbol
    quantity: Decimal
    average_cost: Decimal


@dataclass(frozen=True)
class Holdings:
    """What the venue says the account holds."""

    positions: Mapping[int, VenuePosition] = field(default_factory=dict)
    cash: Decimal | None = None


def corrections(
    book: Sequence[PositionRecord], book_cash: Decimal, venue: Holdings
) -> list[PositionCorrected | CashCorrected]:
    """The corrections that make the book hold what the venue holds."""
    found: list[PositionCorrected | CashCorrected] = []
    held = {position.instrument.conid: position for position in book}
    for conid in sorted(set(held) | set(venue.positions)):
        ours = held.get(conid)
        theirs = venue.positions.get(conid)
        our_quantity = ours.quantity if ours is not None else Decimal(0)
        their_quantity = theirs.quantity if theirs is not None else Decimal(0)
        if our_quantity == their_quantity:
            continue
        instrument = theirs.instrument if theirs is not None else ours.instrument if ours is not None else None
        assert instrument is not None
        found.append(
            PositionCorrected(
                instrument=instrument,
                quantity=their_quantity,
                average_cost=theirs.average_cost if theirs is not None else Decimal(0),
                detail=f"{instrument.symbol} (conid {conid}): the book held {our_quantity}, the venue holds "
                f"{their_quantity}; the venue's position is taken",
            )
        )
    if venue.cash is not None and abs(venue.cash - book_cash) > CASH_TOLERANCE:
        found.append(
            CashCorrected(
                cash=venue.cash,
                detail=f"the book had cash {book_cash:,.2f}, the venue reports {venue.cash:,.2f}; the venue's is taken",
            )
        )
    return found
