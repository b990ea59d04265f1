"""Market data shapes: instruments, bars, indicator snapshots and stored artefacts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Final

from pydantic import AwareDatetime, Field

from tradelane.contracts.envelope import Contract
from tradelane.contracts.strategy import AssetType, BarSize, bar_end


class ResolvedSymbol(Contract):
    """An instrument as the market-data provider resolved it."""

    conid: int = Field(gt=0, description="IB contract id (the simulated provider makes one up).")
    symbol: str = Field(description="Ticker.")
    exchange: str = Field(description="Exchange the bars come from.")
    currency: str = Field(description="ISO currency of prices.")
    asset_type: AssetType = Field(description="IB secType.")
    description: str = Field(default="", description="Long name, e.g. 'APPLE INC'.")
    min_tick: float = Field(default=0.01, gt=0, description="Smallest price increment.")


MAX_PRICE_DECIMALS: Final = 8
"""The most decimals a price is written with: a satoshi (1e-8) is the finest tick traded."""
DEFAULT_PRICE_DECIMALS: Final = 2
"""The decimals of a price whose tick is not a finite number (a template's own ``min_tick``)."""


def price_decimals(min_tick: float | Decimal | str) -> int:
    """How many decimals prices of an instrument are written with: as many as its tick has.

    0.01 gives 2, 0.00005 gives 5, 0.25 gives 2 and 1 or 5 give 0; never more than
    :data:`MAX_PRICE_DECIMALS`. Charts, prompts and the offline analyst all write prices so.
    """
    try:
        exponent = Decimal(str(min_tick)).normalize().as_tuple().exponent
    except InvalidOperation:
        return DEFAULT_PRICE_DECIMALS
    if not isinstance(exponent, int):
        return DEFAULT_PRICE_DECIMALS
    return min(max(-exponent, 0), MAX_PRICE_DECIMALS)


def decimal_of(price: float) -> Decimal:
    """The decimal a float price prints as (``0.1`` is ``Decimal('0.1')``, not its binary expansion).

    Bars carry floats; where prices are compared or turned into money they become this.
    """
    return Decimal(repr(price))


class Bar(Contract):
    """One OHLCV bar; ``time`` is the bar's start (aware UTC)."""

    time: AwareDatetime
    open: float = Field(gt=0)
    high: float = Field(gt=0)
    low: float = Field(gt=0)
    close: float = Field(gt=0)
    volume: float = Field(ge=0)


def closed_bars(bar_size: BarSize, bars: Sequence[Bar], at: datetime) -> tuple[Bar, ...]:
    """The bars of ``bars`` (oldest first) closed at ``at``: those with ``bar_end(bar_size, bar.time) <= at``.

    A bar never closes before the bars that started earlier, so the closed bars come first and the
    rest follow them: counting those from the newest back asks for the end of a bar or two, where a
    backtest's 720-bar window would otherwise have 720 ends computed per decision.
    """
    count = len(bars)
    while count and bar_end(bar_size, bars[count - 1].time) > at:
        count -= 1
    return tuple(bars[:count])


class PatternHit(Contract):
    """A candlestick pattern TA-Lib found on one of the last bars."""

    pattern: str = Field(description="TA-Lib function name, e.g. 'CDLENGULFING'.")
    time: AwareDatetime = Field(description="Start of the bar the pattern completes on.")
    strength: int = Field(description="TA-Lib's output: +100/+200 bullish, -100/-200 bearish.")

    @property
    def bullish(self) -> bool:
        return self.strength > 0


class MarketSnapshot(Contract):
    """The compact view of the market the analysis and signal steps read.

    ``latest`` and ``previous`` hold the last and second-to-last value of every indicator
    series (keys as in ``IndicatorsComputed.series``), None where the series had no value yet.
    """

    symbol: ResolvedSymbol
    bar_size: BarSize
    last_bar_time: AwareDatetime
    last_close: float = Field(gt=0)
    recent_bars: tuple[Bar, ...] = Field(description="The last bars, oldest first (up to 60).")
    latest: dict[str, float | None]
    previous: dict[str, float | None]
    patterns: tuple[PatternHit, ...] = ()


class ObjectRef(Contract):
    """A content-addressed artefact in the JetStream Object Store."""

    bucket: str = Field(description="Object Store bucket.")
    name: str = Field(pattern=r"^[0-9a-f]{64}$", description="sha256 of the content (hex).")
    size: int = Field(ge=0, description="Size in bytes.")
    content_type: str = Field(description="MIME type, e.g. 'image/png'.")
