"""Steps 1 and 2 with the simulated provider: bars at the bar size and at each extra timeframe."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

from tradelane.contracts.events import ExecutionRequested, Trigger
from tradelane.contracts.strategy import AnalysisSettings, BarSize, StrategyDefinition, SymbolRef
from tradelane.market_data.handlers import BarsFetcher
from tradelane.market_data.simulated import SimulatedProvider
from tradelane.runtime.payloads import PayloadStore

AS_OF = datetime(2025, 6, 13, 22, 0, tzinfo=UTC)
"""A Friday evening, after the US close."""


def request(*timeframes: BarSize) -> ExecutionRequested:
    strategy = StrategyDefinition(
        name="aapl", symbol=SymbolRef(symbol="AAPL"), analysis=AnalysisSettings(timeframes=timeframes)
    )
    return ExecutionRequested(
        execution_id=uuid4(), strategy_id=uuid4(), strategy=strategy, trigger=Trigger.MANUAL, as_of=AS_OF
    )


async def test_without_extra_timeframes_only_the_bar_size_is_fetched(payloads: PayloadStore) -> None:
    fetched = await BarsFetcher(SimulatedProvider(), payloads).on_execution_requested(request())
    assert fetched.timeframes == ()
    assert 240 <= fetched.bars.count <= 262
    assert len(await payloads.bars(fetched.bars)) == fetched.bars.count


async def test_each_extra_timeframe_comes_with_its_standard_history_in_the_order_asked(payloads: PayloadStore) -> None:
    fetcher = BarsFetcher(SimulatedProvider(), payloads)
    fetched = await fetcher.on_execution_requested(request(BarSize.WEEK_1, BarSize.HOUR_1))
    assert (fetched.timeframes[0].bar_size, fetched.timeframes[1].bar_size) == (BarSize.WEEK_1, BarSize.HOUR_1)
    weekly, hourly = [await payloads.bars(frame.bars) for frame in fetched.timeframes]
    assert all(bar.time.weekday() == 0 for bar in weekly)
    assert weekly[0].time >= AS_OF - timedelta(days=5 * 365)
    assert 255 <= len(weekly) <= 262
    assert hourly[0].time >= AS_OF - timedelta(days=60)
    assert all(bar.time < AS_OF for bar in (*weekly, *hourly))
    assert len(hourly) >= 200
