"""What market-data needs from a source of prices and contracts, and the ways it can fail.

The failures are defined in :mod:`tradelane.ib.errors` (the IB adapter raises them) and named
here too, since every provider (the simulator as well) raises the same three.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from tradelane.contracts.market import Bar, ResolvedSymbol
from tradelane.contracts.strategy import BarSize, SymbolRef, WhatToShow
from tradelane.contracts.symbols import IbStatus, SymbolDetails, SymbolSummary
from tradelane.ib.errors import ProviderRequestError, ProviderUnavailableError, SymbolNotFoundError

__all__ = ["MarketDataProvider", "ProviderRequestError", "ProviderUnavailableError", "SymbolNotFoundError"]


class MarketDataProvider(Protocol):
    """A source of instruments and historical bars (the simulator, or IB)."""

    name: str
    """Short name recorded on ``BarsFetched.provider``, e.g. ``"simulated"`` or ``"ib"``."""

    async def resolve(self, ref: SymbolRef) -> ResolvedSymbol:
        """The instrument ``ref`` names; raises ``SymbolNotFoundError`` when there is none."""
        ...

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
        """Bars of ``bar_size`` starting within ``duration`` (IB style, ``"1 Y"``) before ``end``, oldest first.

        ``use_rth`` keeps regular trading hours only; ``what_to_show`` picks IB's price type.
        """
        ...

    async def search(self, text: str, limit: int = 10) -> tuple[SymbolSummary, ...]:
        """Instruments whose symbol or description matches ``text``, best match first."""
        ...

    async def details(self, conid: int) -> SymbolDetails:
        """The contract with ``conid``; raises ``SymbolNotFoundError`` when there is none."""
        ...

    def status(self) -> IbStatus:
        """The provider's connection to IB (the simulated provider says it does not use IB)."""
        ...
