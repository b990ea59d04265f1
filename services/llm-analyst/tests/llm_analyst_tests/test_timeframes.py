"""Extra timeframes: which are analysed, and bars resampled from the base bars on aligned buckets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tradelane.contracts.market import Bar
from tradelane.contracts.strategy import BarSize
from tradelane.llm_analyst.timeframes import (
    TimeframeError,
    bucket_start,
    derived_bars,
    extra_timeframes,
    resample,
)

MONDAY = datetime(2025, 1, 6, tzinfo=UTC)


def _bar(time: datetime, open_: float, high: float, low: float, close: float, volume: float = 10) -> Bar:
    return Bar(time=time, open=open_, high=high, low=low, close=close, volume=volume)


def test_daily_bars_make_weekly_bars_starting_on_monday() -> None:
    bars = [_bar(MONDAY + timedelta(days=day), 100 + day, 105 + day, 95 + day, 101 + day) for day in range(10)]
    weekly = resample(bars, BarSize.WEEK_1)
    assert [bar.time for bar in weekly] == [MONDAY, MONDAY + timedelta(days=7)]
    first = weekly[0]
    assert (first.open, first.high, first.low, first.close, first.volume) == (100, 111, 95, 107, 70)


def test_the_newest_bucket_may_be_incomplete() -> None:
    bars = [_bar(MONDAY + timedelta(days=day), 100, 101, 99, 100) for day in range(9)]
    assert resample(bars, BarSize.WEEK_1)[-1].volume == 20


def test_hourly_bars_make_four_hour_bars_from_midnight() -> None:
    start = datetime(2025, 1, 6, 2, tzinfo=UTC)
    bars = [_bar(start + timedelta(hours=hour), 100, 101, 99, 100) for hour in range(6)]
    assert [bar.time.hour for bar in resample(bars, BarSize.HOUR_4)] == [0, 4]


def test_monthly_buckets_start_on_the_first() -> None:
    assert bucket_start(datetime(2025, 2, 17, 15, 30, tzinfo=UTC), BarSize.MONTH_1) == datetime(2025, 2, 1, tzinfo=UTC)


def test_daily_buckets_start_at_midnight_utc() -> None:
    assert bucket_start(datetime(2025, 2, 17, 23, 59, tzinfo=UTC), BarSize.DAY_1) == datetime(2025, 2, 17, tzinfo=UTC)


def test_extra_timeframes_skip_the_base_and_repeats_in_order() -> None:
    wanted = (BarSize.WEEK_1, BarSize.DAY_1, BarSize.MONTH_1, BarSize.WEEK_1)
    assert extra_timeframes(BarSize.DAY_1, wanted) == (BarSize.WEEK_1, BarSize.MONTH_1)


def test_a_finer_timeframe_is_refused_naming_both_sizes() -> None:
    with pytest.raises(TimeframeError, match="'1 hour', finer than the strategy's bar size '1 day'"):
        extra_timeframes(BarSize.DAY_1, (BarSize.HOUR_1,))


def test_too_few_derived_bars_are_refused() -> None:
    bars = [_bar(MONDAY + timedelta(days=day), 100, 101, 99, 100) for day in range(10)]
    with pytest.raises(TimeframeError, match="leaves 1 bar"):
        derived_bars(bars, BarSize.DAY_1, BarSize.MONTH_1)


def test_enough_derived_bars_are_returned() -> None:
    bars = [_bar(MONDAY + timedelta(days=day), 100, 101, 99, 100) for day in range(21)]
    assert len(derived_bars(bars, BarSize.DAY_1, BarSize.WEEK_1)) == 3
