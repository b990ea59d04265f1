"""A market-data provider whose price is a flat 100 until time ``T``, and a huge spike in every bar not closed by then.

It answers as the simulated provider and IB do: the bars starting after ``end - duration`` and before ``end``,
the bar in progress at ``end`` included with its complete values, the last ``MAX_BARS`` at most. Bars run round
the clock on their grid: intraday and daily bars on multiples of their length, weekly bars on Mondays, monthly
bars on the 1st. It records the bar requests it answers. Its name is the stored history's provider: tests that
share a database give each provider a name of its own.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final

from tradelane.contracts.market import Bar, ResolvedSymbol
from tradelane.contracts.strategy import MAX_BARS, AssetType, BarSize, SymbolRef, WhatToShow, duration_seconds
from tradelane.contracts.symbols import IbStatus, SymbolDetails, SymbolSummary
from tradelane.market_data.provider import SymbolNotFoundError

T: Final = datetime(2025, 6, 11, 15, 37, 20, tzinfo=UTC)
"""A Wednesday afternoon: the spike starts in the bars in progress at this time."""
SPIKE: Final = 1_000_000.0
"""The high and close of every bar that closes after ``T``; before it, prices stay between 99 and 102."""
INSTRUMENT: Final = ResolvedSymbol(
    conid=4242, symbol="SPIKE", exchange="PAXOS", currency="USD", asset_type=AssetType.CRYPTO
)
REF: Final = SymbolRef(symbol="SPIKE", exchange="PAXOS", asset_type=AssetType.CRYPTO)


def grid_start(bar_size: BarSize, at: datetime) -> datetime:
    """Start of the bar of ``bar_size`` in progress at ``at`` (the latest grid point at or before it)."""
    if bar_size is BarSize.MONTH_1:
        return datetime(at.year, at.month, 1, tzinfo=UTC)
    if bar_size is BarSize.WEEK_1:
        return datetime(at.year, at.month, at.day, tzinfo=UTC) - timedelta(days=at.weekday())
    seconds = int(at.timestamp())
    return datetime.fromtimestamp(seconds - seconds % bar_size.seconds, UTC)


def next_start(bar_size: BarSize, start: datetime) -> datetime:
    """Start of the bar after the one starting at ``start``: where that bar ends."""
    if bar_size is BarSize.MONTH_1:
        return datetime(start.year + start.month // 12, start.month % 12 + 1, 1, tzinfo=UTC)
    if bar_size is BarSize.WEEK_1:
        return start + timedelta(days=7)
    return start + timedelta(seconds=bar_size.seconds)


def price_bar(bar_size: BarSize, start: datetime) -> Bar:
    """The bar starting at ``start``: spiked when it closes after ``T``."""
    if next_start(bar_size, start) > T:
        return Bar(time=start, open=100, high=SPIKE, low=100, close=SPIKE, volume=1)
    wiggle = int(start.timestamp()) // bar_size.seconds % 3
    return Bar(time=start, open=100, high=101 + wiggle, low=99, close=100 + wiggle / 2, volume=1)


class SpikedProvider:
    """The one instrument ``INSTRUMENT``, its bars as the module describes."""

    def __init__(self, name: str = "spiked") -> None:
        self.name = name
        self.bar_requests: list[tuple[BarSize, str, datetime]] = []

    async def resolve(self, ref: SymbolRef) -> ResolvedSymbol:
        if ref.symbol != INSTRUMENT.symbol:
            msg = f"only {INSTRUMENT.symbol} is known"
            raise SymbolNotFoundError(msg)
        return INSTRUMENT

    async def bars(
        self,
        symbol: ResolvedSymbol,
        bar_size: BarSize,
        duration: str,
        end: datetime,
        *,
        use_rth: bool = True,
        what_to_show: WhatToShow = "TRADES",
    ) -> tuple[Bar, ...]:
        self.bar_requests.append((bar_size, duration, end))
        earliest = end - timedelta(seconds=duration_seconds(duration))
        starts = []
        start = grid_start(bar_size, end)
        if start == end:  # a bar starting exactly at the end is not in progress yet
            start = grid_start(bar_size, end - timedelta(seconds=1))
        while start > earliest:
            starts.append(start)
            start = grid_start(bar_size, start - timedelta(seconds=1))
        return tuple(price_bar(bar_size, start) for start in reversed(starts[:MAX_BARS]))

    async def search(self, text: str, limit: int = 10) -> tuple[SymbolSummary, ...]:
        return ()

    async def details(self, conid: int) -> SymbolDetails:
        msg = f"no details for {conid}"
        raise SymbolNotFoundError(msg)

    def status(self) -> IbStatus:
        return IbStatus(provider=self.name, connected=False, detail="a test double")
