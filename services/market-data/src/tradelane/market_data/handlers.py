"""Steps 1 and 2: resolve the strategy's symbol and fetch its bars up to the run's as_of time."""

from __future__ import annotations

from tradelane.contracts.events import BarsFetched, ExecutionRequested
from tradelane.market_data.provider import (
    MarketDataProvider,
    ProviderRequestError,
    ProviderUnavailableError,
    SymbolNotFoundError,
)
from tradelane.runtime.errors import PermanentStepError, TransientStepError


class BarsFetcher:
    """Answers execution requests with bars from one provider."""

    def __init__(self, provider: MarketDataProvider) -> None:
        self._provider = provider

    async def on_execution_requested(self, msg: ExecutionRequested) -> BarsFetched:
        strategy = msg.strategy
        try:
            symbol = await self._provider.resolve(strategy.symbol)
            bars = await self._provider.bars(
                symbol,
                strategy.bar_size,
                strategy.duration,
                msg.as_of,
                use_rth=strategy.use_rth,
                what_to_show=strategy.what_to_show,
            )
        except (SymbolNotFoundError, ProviderRequestError) as error:
            raise PermanentStepError(str(error)) from error
        except ProviderUnavailableError as error:
            raise TransientStepError(
                f"{self._provider.name} provider unavailable: {error}", retry_after=error.retry_after
            ) from error
        if not bars:
            raise PermanentStepError(
                f"{self._provider.name} returned no {strategy.bar_size.value} bars for {symbol.symbol} "
                f"in the {strategy.duration} before {msg.as_of.isoformat()}"
            )
        return msg.follow(BarsFetched, strategy=strategy, symbol=symbol, bars=bars, provider=self._provider.name)
