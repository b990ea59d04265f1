"""Step 3 as the service runs it: one computation at the bar size and one per extra timeframe."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from tradelane.contracts.events import BarsFetched, TimeframeBars
from tradelane.contracts.market import Bar, ResolvedSymbol
from tradelane.contracts.strategy import AnalysisSettings, AssetType, BarSize, StrategyDefinition, SymbolRef
from tradelane.indicators.handlers import IndicatorCalculator
from tradelane.runtime.errors import PermanentStepError
from tradelane.runtime.payloads import PayloadStore

START = datetime(2020, 1, 6, tzinfo=UTC)
"""A Monday."""
SYMBOL = ResolvedSymbol(conid=265598, symbol="AAPL", exchange="NASDAQ", currency="USD", asset_type=AssetType.STOCK)


def bars(count: int, step: timedelta) -> tuple[Bar, ...]:
    """``count`` bars ``step`` apart whose closes swing around 100."""
    closes = [100 + 10 * math.sin(index / 9) + index / 50 for index in range(count)]
    opens = [closes[0], *closes[:-1]]
    return tuple(
        Bar(
            time=START + step * index,
            open=open_,
            high=max(open_, close) + 0.5,
            low=min(open_, close) - 0.5,
            close=close,
            volume=1000.0 + index,
        )
        for index, (open_, close) in enumerate(zip(opens, closes, strict=True))
    )


async def fetched(payloads: PayloadStore, weekly_bars: int) -> BarsFetched:
    strategy = StrategyDefinition(
        name="aapl", symbol=SymbolRef(symbol="AAPL"), analysis=AnalysisSettings(timeframes=(BarSize.WEEK_1,))
    )
    return BarsFetched(
        execution_id=uuid4(),
        strategy_id=uuid4(),
        strategy=strategy,
        symbol=SYMBOL,
        bars=await payloads.put_bars(SYMBOL.conid, BarSize.DAY_1, bars(260, timedelta(days=1))),
        timeframes=(
            TimeframeBars(
                bar_size=BarSize.WEEK_1,
                bars=await payloads.put_bars(SYMBOL.conid, BarSize.WEEK_1, bars(weekly_bars, timedelta(weeks=1))),
            ),
        ),
        provider="simulated",
    )


async def test_each_extra_timeframe_gets_its_own_series_and_snapshot(payloads: PayloadStore) -> None:
    msg = await fetched(payloads, weekly_bars=240)
    computed = await IndicatorCalculator(payloads).on_bars_fetched(msg)
    assert computed.snapshot.bar_size == BarSize.DAY_1
    [weekly] = computed.timeframes
    assert weekly.snapshot.bar_size == BarSize.WEEK_1
    assert weekly.bars == msg.timeframes[0].bars
    # read back through a store of their own, as the charts service does: nothing comes from this one's cache
    reader = PayloadStore(payloads.bus)
    weekly_series, base_series = await reader.series(weekly.series), await reader.series(computed.series)
    weekly_bars = await reader.bars(weekly.bars)
    assert set(weekly_series) == set(base_series)
    assert all(len(values) == 240 for values in weekly_series.values())
    assert weekly.snapshot.last_bar_time == START + timedelta(weeks=239)
    assert weekly.snapshot.latest["sma_20"] == pytest.approx(sum(bar.close for bar in weekly_bars[-20:]) / 20)
    assert weekly_series["sma_20"][-1] == weekly.snapshot.latest["sma_20"]
    assert weekly.snapshot.latest["sma_20"] != computed.snapshot.latest["sma_20"]


async def test_too_few_bars_on_an_extra_timeframe_fail_the_step_naming_the_timeframe(payloads: PayloadStore) -> None:
    msg = await fetched(payloads, weekly_bars=120)
    with pytest.raises(PermanentStepError, match=r"^on the 1 week bars: sma_200 needs at least 200 bars; got 120$"):
        await IndicatorCalculator(payloads).on_bars_fetched(msg)
