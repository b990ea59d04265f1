"""Step 3: compute the strategy's indicators over the fetched bars, at the bar size and each extra timeframe."""

from __future__ import annotations

from collections.abc import Sequence

from tradelane.contracts.events import BarsFetched, IndicatorsComputed, TimeframeIndicators
from tradelane.contracts.market import Bar, ResolvedSymbol
from tradelane.contracts.strategy import BarSize, IndicatorSpec
from tradelane.indicators.compute import IndicatorInputError, compute, snapshot
from tradelane.runtime.errors import PermanentStepError


async def on_bars_fetched(msg: BarsFetched) -> IndicatorsComputed:
    """Every indicator of the strategy plus the snapshot the analyst reads, for each timeframe."""
    specs = msg.strategy.indicators
    base = _indicators(msg.symbol, msg.strategy.bar_size, msg.bars, specs)
    extra = [
        TimeframeIndicators.model_validate(_indicators(msg.symbol, frame.bar_size, frame.bars, specs))
        for frame in msg.timeframes
    ]
    return msg.follow(IndicatorsComputed, strategy=msg.strategy, timeframes=extra, **base)


def _indicators(
    symbol: ResolvedSymbol, bar_size: BarSize, bars: Sequence[Bar], specs: Sequence[IndicatorSpec]
) -> dict[str, object]:
    """The fields of a :class:`TimeframeIndicators` (left unvalidated: the event validates them once)."""
    try:
        computation = compute(bars, specs)
        market = snapshot(symbol, bar_size, bars, computation)
    except IndicatorInputError as error:
        raise PermanentStepError(f"on the {bar_size.value} bars: {error}") from error
    return {"bars": bars, "series": computation.series, "patterns": computation.patterns, "snapshot": market}
