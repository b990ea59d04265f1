"""Steps 1 and 2: resolve the strategy's symbol and fetch its bars up to the run's as_of time.

Bars come at the strategy's bar size over its duration, and at each extra analysis timeframe
(``analysis.timeframes``) over that timeframe's standard history (``TIMEFRAME_HISTORY``).

A live run (or a replay) reads the provider as it always has: the bars starting within the duration before
``as_of``, the bar in progress at ``as_of`` included as the provider returns it. A decision of a backtest
(``backtest`` set) is point in time: in every timeframe it keeps only the bars closed at or before ``as_of``
(:func:`~tradelane.contracts.market.closed_bars`), since for a past ``as_of`` the simulated provider and IB return
the bar in progress at ``as_of`` with its complete, later values; and it reads them from the stored history,
so a backtest's decisions do not ask the provider for the same bars again. Those come with the bars before the
window in its oldest chunk's period (the lead), which the payload store keeps in that chunk, so that consecutive
decisions share it.
"""

from __future__ import annotations

from collections.abc import Callable

from tradelane.contracts.events import BarsFetched, ExecutionRequested, TimeframeBars
from tradelane.contracts.market import Bar, ResolvedSymbol, closed_bars
from tradelane.contracts.payloads import BarsWindow
from tradelane.contracts.strategy import TIMEFRAME_HISTORY, BarSize
from tradelane.market_data.provider import (
    MarketDataProvider,
    ProviderRequestError,
    ProviderUnavailableError,
    SymbolNotFoundError,
)
from tradelane.market_data.stored_history import StoredHistory
from tradelane.runtime.errors import PermanentStepError, TransientStepError
from tradelane.runtime.payloads import PayloadStore


class BarsFetcher:
    """Answers execution requests with bars from one provider, kept in the payload store and sent by reference.

    ``stored`` gives the stored history backtests read (built once the database is open); without it a
    backtest's bars come from the provider, point in time all the same.
    """

    def __init__(
        self,
        provider: MarketDataProvider,
        payloads: PayloadStore,
        stored: Callable[[], StoredHistory] | None = None,
    ) -> None:
        self._provider = provider
        self._payloads = payloads
        self._stored = stored

    async def on_execution_requested(self, msg: ExecutionRequested) -> BarsFetched:
        strategy = msg.strategy
        try:
            symbol = await self._provider.resolve(strategy.symbol)
            bars = await self._bars(msg, symbol, strategy.bar_size, strategy.duration)
            timeframes = [
                TimeframeBars(
                    bar_size=timeframe, bars=await self._bars(msg, symbol, timeframe, TIMEFRAME_HISTORY[timeframe])
                )
                for timeframe in strategy.extra_timeframes
            ]
        except (SymbolNotFoundError, ProviderRequestError) as error:
            raise PermanentStepError(str(error)) from error
        except ProviderUnavailableError as error:
            raise TransientStepError(
                f"{self._provider.name} provider unavailable: {error}", retry_after=error.retry_after
            ) from error
        return msg.follow(
            BarsFetched,
            strategy=strategy,
            symbol=symbol,
            bars=bars,
            timeframes=timeframes,
            provider=self._provider.name,
        )

    async def _bars(
        self, msg: ExecutionRequested, symbol: ResolvedSymbol, bar_size: BarSize, duration: str
    ) -> BarsWindow:
        end, rth, show = msg.as_of, msg.strategy.use_rth, msg.strategy.what_to_show
        lead: tuple[Bar, ...] = ()
        if msg.backtest is None or self._stored is None:
            bars = await self._provider.bars(symbol, bar_size, duration, end, use_rth=rth, what_to_show=show)
        else:
            stored = self._stored()
            lead, bars = await stored.lead_and_bars(symbol, bar_size, duration, end, use_rth=rth, what_to_show=show)
        if msg.backtest is not None:
            bars = closed_bars(bar_size, bars, end)
        if not bars:
            closed = "" if msg.backtest is None else "closed "
            raise PermanentStepError(
                f"{self._provider.name} returned no {closed}{bar_size.value} bars for {symbol.symbol} "
                f"in the {duration} before {end.isoformat()}"
            )
        return await self._payloads.put_bars(symbol.conid, bar_size, bars, lead=lead)
