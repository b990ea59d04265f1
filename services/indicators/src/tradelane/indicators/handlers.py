"""Step 3: compute the strategy's indicators over the fetched bars, at the bar size and each extra timeframe.

The bars come by reference and the series go by reference (the payload store); the message
carries the snapshot the analyst reads.
"""

from __future__ import annotations

from collections.abc import Sequence

from tradelane.contracts.events import BarsFetched, IndicatorsComputed, TimeframeIndicators
from tradelane.contracts.market import ResolvedSymbol
from tradelane.contracts.payloads import BarsWindow
from tradelane.contracts.strategy import IndicatorSpec
from tradelane.indicators.compute import IndicatorInputError, compute, snapshot
from tradelane.runtime.errors import PermanentStepError
from tradelane.runtime.payloads import PayloadStore


class IndicatorCalculator:
    """Reads each timeframe's bars from the payload store, computes, and stores the series back."""

    def __init__(self, payloads: PayloadStore) -> None:
        self._payloads = payloads

    async def on_bars_fetched(self, msg: BarsFetched) -> IndicatorsComputed:
        """Every indicator of the strategy plus the snapshot the analyst reads, for each timeframe."""
        specs = msg.strategy.indicators
        base = await self._indicators(msg.symbol, msg.bars, specs)
        extra = [
            TimeframeIndicators.model_validate(await self._indicators(msg.symbol, frame.bars, specs))
            for frame in msg.timeframes
        ]
        return msg.follow(IndicatorsComputed, strategy=msg.strategy, timeframes=extra, **base)

    async def _indicators(
        self, symbol: ResolvedSymbol, window: BarsWindow, specs: Sequence[IndicatorSpec]
    ) -> dict[str, object]:
        """The fields of a :class:`TimeframeIndicators` (left unvalidated: the event validates them once)."""
        bars = await self._payloads.bars(window)
        try:
            computation = compute(bars, specs)
            market = snapshot(symbol, window.bar_size, bars, computation)
        except IndicatorInputError as error:
            raise PermanentStepError(f"on the {window.bar_size.value} bars: {error}") from error
        series = await self._payloads.put_series(computation.arrays)
        return {"bars": window, "series": series, "patterns": computation.patterns, "snapshot": market}
