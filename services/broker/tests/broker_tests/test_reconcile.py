"""The book takes the venue's positions and cash when they differ."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from tradelane.broker.reconcile import Holdings, VenuePosition, corrections
from tradelane.broker.venue import CashCorrected, PositionCorrected
from tradelane.contracts.portfolio import PositionRecord

from .support import AAPL, BTC

AT = datetime(2025, 3, 4, tzinfo=UTC)


def _held(quantity: str) -> PositionRecord:
    return PositionRecord(AAPL, Decimal(quantity), Decimal(100), Decimal(0), AT, AT)


def test_matching_books_need_no_correction() -> None:
    venue = Holdings({AAPL.conid: VenuePosition(AAPL, Decimal(10), Decimal(100))}, Decimal(5000))
    assert corrections([_held("10")], Decimal(5000), venue) == []


def test_a_different_quantity_is_corrected_to_the_venues() -> None:
    venue = Holdings({AAPL.conid: VenuePosition(AAPL, Decimal(7), Decimal(101))})
    [correction] = corrections([_held("10")], Decimal(0), venue)
    assert isinstance(correction, PositionCorrected)
    assert (correction.quantity, correction.average_cost) == (Decimal(7), Decimal(101))
    assert "the book held 10, the venue holds 7" in correction.detail


def test_a_position_the_venue_no_longer_has_is_closed() -> None:
    [correction] = corrections([_held("10")], Decimal(0), Holdings())
    assert isinstance(correction, PositionCorrected)
    assert correction.quantity == 0


def test_a_position_only_the_venue_has_is_taken() -> None:
    venue = Holdings({BTC.conid: VenuePosition(BTC, Decimal("0.5"), Decimal(60000))})
    [correction] = corrections([], Decimal(0), venue)
    assert isinstance(correction, PositionCorrected)
    assert correction.instrument == BTC


def test_cash_beyond_a_cent_of_difference_is_corrected() -> None:
    assert corrections([], Decimal("100.005"), Holdings(cash=Decimal(100))) == []
    [correction] = corrections([], Decimal(90), Holdings(cash=Decimal(100)))
    assert correction == CashCorrected(Decimal(100), correction.detail)
