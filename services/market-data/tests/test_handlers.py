"""Steps 1 and 2 with the simulated provider: bars at the bar size and at each extra timeframe."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

from tradelane.contracts.events import ExecutionRequested, Trigger
from tradelane.contracts.strategy import AnalysisSettings, BarSize, StrategyDefinition, SymbolRef
from tradelane.market_data.handlers import BarsFetcher
from tradelane.market_data.simulated import SimulatedProvider

AS_OF = datetime(2025, 6, 13, 22, 0, tzinfo=UTC)
"""A Friday evening, after the US close."""


def request(*timeframes: BarSize) -> ExecutionRequested:
    strategy = StrategyDefinition(
        name="aapl", symbol=SymbolRef(symbol="AAPL"), analysis=AnalysisSettings(timeframes=timeframes)
    )
    return ExecutionRequested(
        execution_id=uuid4(), strategy_id=uuid4(), strategy=strategy, trigger=Trigger.MANUAL, as_of=AS_OF
    )


async def test_without_extra_timeframes_only_the_bar_size_is_fetched() -> None:
    fetched = await BarsFetcher(SimulatedProvider()).on_execution_requested(request())
    assert fetched.timeframes == ()
    assert 240 <= len(fetched.bars) <= 262


async def test_each_extra_timeframe_comes_with_its_standard_history_in_the_order_asked() -> None:
    fetched = await BarsFetcher(SimulatedProvider()).on_execution_requested(request(BarSize.WEEK_1, BarSize.HOUR_1))
    weekly, hourly = fetched.timeframes
    assert (weekly.bar_size, hourly.bar_size) == (BarSize.WEEK_1, BarSize.HOUR_1)
    assert all(bar.time.weekday() == 0 for bar in weekly.bars)
    assert weekly.bars[0].time >= AS_OF - timedelta(days=5 * 365)
    assert 255 <= len(weekly.bars) <= 262
    assert hourly.bars[0].time >= AS_OF - timedelta(days=60)
    assert all(bar.time < AS_OF for bar in (*weekly.bars, *hourly.bars))
    assert len(hourly.bars) >= 200
