"""Steps 1 and 2: resolve the strategy's symbol and fetch its bars up to the run's as_of time.

Bars come at the strategy's bar size over its duration, and at each extra analysis timeframe
(``analysis.timeframes``) over that timeframe's standard history (``TIMEFRAME_HISTORY``).
"""

from __future__ import annotations

from datetime import datetime

from tradelane.contracts.events import BarsFetched, ExecutionRequested, TimeframeBars
from tradelane.contracts.market import ResolvedSymbol
from tradelane.contracts.payloads import BarsWindow
from tradelane.contracts.strategy import TIMEFRAME_HISTORY, BarSize, StrategyDefinition
from tradelane.market_data.provider import (
    MarketDataProvider,
    ProviderRequestError,
    ProviderUnavailableError,
    SymbolNotFoundError,
)
from tradelane.runtime.errors import PermanentStepError, TransientStepError
from tradelane.runtime.payloads import PayloadStore


class BarsFetcher:
    """Answers execution requests with bars from one provider, kept in the payload store and sent by reference."""

    def __init__(self, provider: MarketDataProvider, payloads: PayloadStore) -> None:
        self._provider = provider
        self._payloads = payloads

    async def on_execution_requested(self, msg: ExecutionRequested) -> BarsFetched:
        strategy = msg.strategy
        try:
            symbol = await self._provider.resolve(strategy.symbol)
            bars = await self._bars(symbol, strategy, strategy.bar_size, strategy.duration, msg.as_of)
            timeframes = [
                TimeframeBars(
                    bar_size=timeframe,
                    bars=await self._bars(symbol, strategy, timeframe, TIMEFRAME_HISTORY[timeframe], msg.as_of),
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
        self, symbol: ResolvedSymbol, strategy: StrategyDefinition, bar_size: BarSize, duration: str, end: datetime
    ) -> BarsWindow:
        bars = await self._provider.bars(
            symbol, bar_size, duration, end, use_rth=strategy.use_rth, what_to_show=strategy.what_to_show
        )
        if not bars:
            raise PermanentStepError(
                f"{self._provider.name} returned no {bar_size.value} bars for {symbol.symbol} "
                f"in the {duration} before {end.isoformat()}"
            )
        return await self._payloads.put_bars(symbol.conid, bar_size, bars)
