"""The cadence a backtest decides at when none is asked for: every bar's close, or every hour under hourly bars."""

from __future__ import annotations

import pytest

from tradelane.contracts.backtest import BAR_CADENCE, HOURLY_CADENCE, default_cadence
from tradelane.contracts.strategy import TIMEFRAME_HISTORY, BarSize, Schedule, StrategyDefinition, SymbolRef


def _strategy(bar_size: BarSize, cron: str = "* * * * *") -> StrategyDefinition:
    return StrategyDefinition(
        name="s",
        symbol=SymbolRef(symbol="BTC"),
        bar_size=bar_size,
        duration=TIMEFRAME_HISTORY[bar_size],
        schedule=Schedule(cron=cron, timezone="UTC"),
    )


@pytest.mark.parametrize("bar_size", [BarSize.MIN_1, BarSize.MIN_5, BarSize.MIN_15, BarSize.MIN_30])
def test_bars_shorter_than_an_hour_decide_every_hour(bar_size: BarSize) -> None:
    assert default_cadence(_strategy(bar_size)) == HOURLY_CADENCE == "0 * * * *"


@pytest.mark.parametrize("bar_size", [BarSize.HOUR_1, BarSize.HOUR_4, BarSize.DAY_1, BarSize.WEEK_1, BarSize.MONTH_1])
def test_bars_of_an_hour_or_longer_decide_at_every_close(bar_size: BarSize) -> None:
    assert default_cadence(_strategy(bar_size)) == BAR_CADENCE


def test_the_strategys_own_cron_is_not_the_default() -> None:
    """A new strategy's defaults: daily bars, a cron every 5 minutes (finer than a bar, which a backtest refuses)."""
    new = StrategyDefinition(name="new", symbol=SymbolRef(symbol="AAPL"))
    assert (new.bar_size, new.schedule.cron) == (BarSize.DAY_1, "*/5 * * * *")
    assert default_cadence(new) == BAR_CADENCE
