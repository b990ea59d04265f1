"""When a bar closes: by its length for intraday and daily bars, by the calendar for weekly and monthly ones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tradelane.contracts.market import Bar, closed_bars
from tradelane.contracts.strategy import BarSize, bar_end


@pytest.mark.parametrize(
    ("bar_size", "start", "end"),
    [
        (BarSize.MIN_1, datetime(2025, 6, 11, 15, 37, tzinfo=UTC), datetime(2025, 6, 11, 15, 38, tzinfo=UTC)),
        (BarSize.HOUR_4, datetime(2025, 6, 11, 20, tzinfo=UTC), datetime(2025, 6, 12, 0, tzinfo=UTC)),
        (BarSize.DAY_1, datetime(2025, 6, 13, tzinfo=UTC), datetime(2025, 6, 14, tzinfo=UTC)),
    ],
)
def test_an_intraday_or_daily_bar_ends_its_length_after_its_start(
    bar_size: BarSize, start: datetime, end: datetime
) -> None:
    assert bar_end(bar_size, start) == end


@pytest.mark.parametrize(
    "start",
    [
        datetime(2025, 6, 9, tzinfo=UTC),  # dated by its Monday
        datetime(2025, 6, 13, tzinfo=UTC),  # dated by its Friday
        datetime(2025, 6, 15, 23, 59, tzinfo=UTC),  # the Sunday
    ],
)
def test_a_weekly_bar_ends_on_the_next_monday(start: datetime) -> None:
    assert bar_end(BarSize.WEEK_1, start) == datetime(2025, 6, 16, tzinfo=UTC)


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 2, 1, tzinfo=UTC)),
        (datetime(2024, 2, 1, tzinfo=UTC), datetime(2024, 3, 1, tzinfo=UTC)),
        (datetime(2025, 12, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)),
    ],
)
def test_a_monthly_bar_ends_on_the_first_of_the_next_month(start: datetime, end: datetime) -> None:
    assert bar_end(BarSize.MONTH_1, start) == end


def _bars_from(starts: list[datetime]) -> tuple[Bar, ...]:
    return tuple(Bar(time=start, open=10, high=11, low=9, close=10.5, volume=100) for start in starts)


@pytest.mark.parametrize("bar_size", list(BarSize))
def test_closed_bars_are_those_whose_end_is_at_or_before_the_time(bar_size: BarSize) -> None:
    """Against the rule read bar by bar, at every bar's start and end and just around them."""
    # weekly bars 3 days apart: some share their end, as bars of one week dated by different days would
    calendar_steps = {BarSize.WEEK_1: timedelta(days=3), BarSize.MONTH_1: timedelta(days=31)}
    step = calendar_steps.get(bar_size, timedelta(seconds=bar_size.seconds))
    bars = _bars_from([datetime(2025, 1, 6, 13, 30, tzinfo=UTC) + index * step for index in range(40)])
    moments = {moment for bar in bars for moment in (bar.time, bar_end(bar_size, bar.time))}
    for moment in sorted(moments):
        for at in (moment - timedelta(microseconds=1), moment, moment + timedelta(microseconds=1)):
            expected = tuple(bar for bar in bars if bar_end(bar_size, bar.time) <= at)
            assert closed_bars(bar_size, bars, at) == expected, at


def test_closed_bars_of_none_or_of_none_closed_are_none() -> None:
    bars = _bars_from([datetime(2025, 6, 2, 14, tzinfo=UTC)])
    assert closed_bars(BarSize.HOUR_1, (), datetime(2025, 6, 2, 16, tzinfo=UTC)) == ()
    assert closed_bars(BarSize.HOUR_1, bars, datetime(2025, 6, 2, 14, 59, tzinfo=UTC)) == ()
    assert closed_bars(BarSize.HOUR_1, list(bars), datetime(2025, 6, 2, 15, tzinfo=UTC)) == bars
