"""What market-data needs from a source of prices and contracts, and the ways it can fail."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from tradelane.contracts.market import Bar, ResolvedSymbol
from tradelane.contracts.strategy import BarSize, SymbolRef, WhatToShow
from tradelane.contracts.symbols import IbStatus, SymbolDetails, SymbolSummary


class SymbolNotFoundError(LookupError):
    """The provider does not know the instrument; asking again will not help.

    The message names what was asked for (symbol, exchange, currency, type) and what the
    provider does know, so the user can correct the strategy.
    """

    def __init__(self, message: str, *, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        """The provider's error code (IB's), when it gave one."""


class ProviderRequestError(Exception):
    """The provider refused the request as asked (bad parameters, no permission); asking again will not help."""

    def __init__(self, message: str, *, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class ProviderUnavailableError(ConnectionError):
    """The provider cannot answer right now (e.g. IB Gateway disconnected); retry later."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        """Seconds after which asking again makes sense, when the provider knows."""


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
