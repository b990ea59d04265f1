"""What the market-data step needs from a source of prices, and the two ways it can fail."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from tradelane.contracts.market import Bar, ResolvedSymbol
from tradelane.contracts.strategy import BarSize, SymbolRef


class SymbolNotFoundError(LookupError):
    """The provider does not know the instrument; asking again will not help.

    The message names what was asked for (symbol, exchange, currency, type) and what the
    provider does know, so the user can correct the strategy.
    """


class ProviderUnavailableError(ConnectionError):
    """The provider cannot answer right now (e.g. IB Gateway disconnected); retry later."""


class MarketDataProvider(Protocol):
    """A source of instruments and historical bars (the simulator, or IB)."""

    name: str
    """Short name recorded on ``BarsFetched.provider``, e.g. ``"simulated"`` or ``"ib"``."""

    async def resolve(self, ref: SymbolRef) -> ResolvedSymbol:
        """The instrument ``ref`` names; raises ``SymbolNotFoundError`` when there is none."""
        ...

    async def bars(self, symbol: ResolvedSymbol, bar_size: BarSize, duration: str, end: datetime) -> tuple[Bar, ...]:
        """Bars of ``bar_size`` starting within ``duration`` (IB style, ``"1 Y"``) before ``end``, oldest first."""
        ...

    async def search(self, text: str, limit: int = 10) -> tuple[ResolvedSymbol, ...]:
        """Instruments whose symbol or description matches ``text``, best match first."""
        ...
