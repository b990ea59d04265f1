"""Bars on request (``tradelane.market_data.bars``): an instrument's bars between two times, from the store or the
provider; and an instrument resolved (``tradelane.market_data.resolve``) the way the pipeline's step 1 resolves it.

The signals ledger asks for the bars that followed a signal; the backtester resolves a strategy's symbol and asks
for the bars of a backtest's period. When the stored history (:mod:`tradelane.market_data.stored_history`) holds
every bar of the window, closed, they come from there and the provider is not asked. Otherwise the provider is asked
for an IB duration that covers the window and one bar more, ending at its end (IB's pacing applies as for any
request), and the reply keeps the bars that start within it. A failure is a reply with its ``error``.
"""

from __future__ import annotations

from tradelane.contracts.history import BarsReply, BarsRequest, ResolveReply, ResolveRequest
from tradelane.contracts.strategy import duration_covering
from tradelane.market_data.provider import (
    MarketDataProvider,
    ProviderRequestError,
    ProviderUnavailableError,
    SymbolNotFoundError,
)
from tradelane.market_data.stored_history import StoredHistory
from tradelane.market_data.symbol_service import service_error


async def bars_between(
    provider: MarketDataProvider, request: BarsRequest, stored: StoredHistory | None = None
) -> BarsReply:
    """The bars ``request`` asks for, oldest first, or the reason there are none."""
    if stored is not None:
        kept = await stored.between(request)
        if kept is not None:
            return BarsReply(bars=kept)
    # one bar more: a provider may leave out the bar that starts exactly at the duration's beginning
    duration = duration_covering((request.end - request.start).total_seconds() + request.bar_size.seconds)
    try:
        bars = await provider.bars(
            request.symbol,
            request.bar_size,
            duration,
            request.end,
            use_rth=request.use_rth,
            what_to_show=request.what_to_show,
        )
    except (SymbolNotFoundError, ProviderRequestError, ProviderUnavailableError) as error:
        return BarsReply(error=service_error(error))
    return BarsReply(bars=tuple(bar for bar in bars if request.start <= bar.time < request.end))


async def resolved(provider: MarketDataProvider, request: ResolveRequest) -> ResolveReply:
    """The instrument ``request`` names, as :meth:`MarketDataProvider.resolve` finds it, or the reason there is none."""
    try:
        return ResolveReply(symbol=await provider.resolve(request.symbol))
    except (SymbolNotFoundError, ProviderRequestError, ProviderUnavailableError) as error:
        return ResolveReply(error=service_error(error))
