"""The three ways a source of prices and contracts fails, raised by the IB adapter and every provider.

They live with the IB adapter because its connection, pacing and parsing raise them, and a
library may not import a service; market-data's providers (the simulator too) raise the same
ones, named again by :mod:`tradelane.market_data.provider`.
"""

from __future__ import annotations


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
