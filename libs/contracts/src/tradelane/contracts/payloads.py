"""Payloads carried by reference (the claim check): a window of bars, stored in chunks, named by content.

Bars are immutable once closed, so a window of them is kept as chunks of one aligned period
each (:data:`CHUNK_BARS` bars of the window's bar size, counted from the Unix epoch): two
executions of the same instrument and bar size share every chunk but the ones at the edges
of their windows, and a message names the chunks (sha256 of their content) instead of
carrying the bars. Where the bars before a window are at hand (a backtest's stored history), its
oldest chunk holds its whole period from the period's start, and the window says how many of
those bars come before it (``skip``): then consecutive windows share their oldest chunk too, and
only the newest changes from one decision to the next. Indicator series and chart figures are
stored whole, content-addressed (:class:`~tradelane.contracts.market.ObjectRef`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Final

from pydantic import AwareDatetime, Field

from tradelane.contracts.envelope import Contract
from tradelane.contracts.market import Bar
from tradelane.contracts.strategy import BarSize

CHUNK_BARS: Final = 64
"""Bars per chunk period: an hour and a bit of 1-minute bars, about 8 KB of JSON."""

Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$", description="sha256 of the content (hex).")]


def chunk_period(bar_size: BarSize, time: datetime) -> int:
    """The number of the chunk period a bar starting at ``time`` belongs to (periods counted from the epoch)."""
    return int((time - _EPOCH).total_seconds()) // (CHUNK_BARS * bar_size.seconds)


def chunk_start(bar_size: BarSize, time: datetime) -> datetime:
    """The start of the chunk period ``time`` falls in."""
    return _EPOCH + timedelta(seconds=chunk_period(bar_size, time) * CHUNK_BARS * bar_size.seconds)


class BarsWindow(Contract):
    """An instrument's bars at one bar size, oldest first, by reference to their chunks in the payload store."""

    conid: int = Field(gt=0, description="The instrument's IB contract id.")
    bar_size: BarSize
    count: int = Field(ge=1, description="How many bars the window holds.")
    first_bar_time: AwareDatetime = Field(description="Start of the oldest bar.")
    last_bar: Bar = Field(description="The newest bar, inline: marks and summaries need only it.")
    sha256: Sha256 = Field(
        description="Content hash of the window: sha256 of its chunk names in order, then '+<skip>' when skip is not 0."
    )
    chunks: tuple[Sha256, ...] = Field(
        min_length=1, description="The chunks in the payload bucket, oldest first; each a JSON array of bars."
    )
    skip: int = Field(
        default=0,
        ge=0,
        description="Bars at the start of the first chunk that come before the window, which a reader leaves out.",
    )


_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
