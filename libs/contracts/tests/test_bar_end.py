"""When a bar closes: by its length for intraday and daily bars, by the calendar for weekly and monthly ones."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

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
