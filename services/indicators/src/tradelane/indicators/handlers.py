"""Step 3: compute the strategy's indicators over the fetched bars."""

from __future__ import annotations

from tradelane.contracts.events import BarsFetched, IndicatorsComputed
from tradelane.indicators.compute import IndicatorInputError, compute, snapshot
from tradelane.runtime.errors import PermanentStepError


async def on_bars_fetched(msg: BarsFetched) -> IndicatorsComputed:
    """Every indicator of the strategy plus the snapshot the analyst reads."""
    try:
        computation = compute(msg.bars, msg.strategy.indicators)
        market = snapshot(msg.symbol, msg.strategy.bar_size, msg.bars, computation)
    except IndicatorInputError as error:
        raise PermanentStepError(str(error)) from error
    return msg.follow(
        IndicatorsComputed,
        strategy=msg.strategy,
        bars=msg.bars,
        series=computation.series,
        patterns=computation.patterns,
        snapshot=market,
    )
