"""When a backtest decides: every bar close, or its schedule's runs that see a new bar (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final

import pytest

from tradelane.backtester.planner import PlanError, bar_close, decision_times
from tradelane.contracts.backtest import default_cadence
from tradelane.contracts.market import Bar
from tradelane.contracts.strategy import TIMEFRAME_HISTORY, BarSize, Schedule, StrategyDefinition, SymbolRef

HOUR: Final = timedelta(hours=1)
MONDAY: Final = datetime(2025, 3, 3, tzinfo=UTC)
UTC_SCHEDULE: Final = Schedule(cron="30 * * * *", timezone="UTC")
EVERY_MINUTE: Final = Schedule(cron="* * * * *", timezone="UTC")


def session_bars(first_day: datetime, days: int, bar: timedelta = HOUR) -> list[Bar]:
    """Bars of ``bar`` length from 14:00 to 21:00 UTC on the weekdays of ``days`` days from ``first_day``."""
    bars = []
    for day in range(days):
        date = first_day + timedelta(days=day)
        if date.weekday() >= 5:
            continue
        start = date + timedelta(hours=14)
        while start < date + timedelta(hours=21):
            bars.append(Bar(time=start, open=100, high=101, low=99, close=100.5, volume=10))
            start += bar
    return bars


def test_the_bar_cadence_decides_at_every_close_in_the_period() -> None:
    """The first hourly bar starts at 14:00 and closes at 15:00; the last closes at 21:00."""
    bars = session_bars(MONDAY, 1)
    times = decision_times(bars, BarSize.HOUR_1, "bar", UTC_SCHEDULE, MONDAY, MONDAY + timedelta(days=1))
    assert times == [MONDAY + timedelta(hours=hour) for hour in range(15, 22)]


def test_the_period_holds_closes_at_its_ends_and_not_beyond() -> None:
    """A bar closing exactly at the start or the end is in; one closing before the start or after the end is not."""
    bars = session_bars(MONDAY, 1)
    start, end = MONDAY + timedelta(hours=16), MONDAY + timedelta(hours=19)
    times = decision_times(bars, BarSize.HOUR_1, "bar", UTC_SCHEDULE, start, end)
    assert times == [start, start + HOUR, start + 2 * HOUR, end]


def test_the_strategys_cron_runs_only_after_a_new_bar() -> None:
    """Hourly runs at :30 over a week: seven a trading day (after each close), none at night or on the weekend."""
    bars = session_bars(MONDAY, 7)
    times = decision_times(bars, BarSize.HOUR_1, "cron", UTC_SCHEDULE, MONDAY, MONDAY + timedelta(days=7))
    assert len(times) == 5 * 7
    assert times[:8] == [MONDAY + timedelta(hours=hour, minutes=30) for hour in range(15, 22)] + [
        MONDAY + timedelta(days=1, hours=15, minutes=30)
    ]
    assert all(time.weekday() < 5 for time in times)


def test_a_run_that_sees_no_new_bar_is_skipped() -> None:
    """Runs every 2 hours on 1-hour bars are fine; with bars only until 16:00, the run at 18:00 sees nothing new."""
    bars = session_bars(MONDAY, 1)[:2]
    schedule = Schedule(cron="0 */2 * * *", timezone="UTC")
    times = decision_times(bars, BarSize.HOUR_1, "cron", schedule, MONDAY, MONDAY + timedelta(days=1))
    assert times == [MONDAY + timedelta(hours=16)]


def test_a_cron_expression_cadence_replaces_the_strategys_schedule_in_its_time_zone() -> None:
    """'0 16 * * 1-5' in New York is 21:00 UTC in winter: one decision a trading day, after the day's last bar."""
    bars = session_bars(MONDAY, 7)
    schedule = Schedule(cron="30 * * * *", timezone="America/New_York")
    times = decision_times(bars, BarSize.HOUR_1, "0 16 * * 1-5", schedule, MONDAY, MONDAY + timedelta(days=7))
    assert times == [MONDAY + timedelta(days=day, hours=21) for day in range(5)]


def test_a_daily_schedule_is_not_finer_than_daily_bars_across_a_change_of_the_clocks() -> None:
    """New York springs forward on 9 March 2025: 16:00 on the days either side is 23 hours apart in UTC.

    Fourteen daily bars close at midnight from 4 March; the last one's run (17 March, 20:00) is after the period.
    """
    first = datetime(2025, 3, 3, tzinfo=UTC)
    bars = [Bar(time=first + timedelta(days=day), open=1, high=1, low=1, close=1, volume=1) for day in range(14)]
    schedule = Schedule(cron="0 16 * * *", timezone="America/New_York")
    times = decision_times(bars, BarSize.DAY_1, "cron", schedule, first, first + timedelta(days=14))
    assert len(times) == 13
    assert times[5:8] == [
        datetime(2025, 3, 9, 20, tzinfo=UTC),
        datetime(2025, 3, 10, 20, tzinfo=UTC),
        datetime(2025, 3, 11, 20, tzinfo=UTC),
    ]


def test_a_cadence_finer_than_the_bar_size_is_refused_saying_how_often_it_runs() -> None:
    bars = session_bars(MONDAY, 1)
    with pytest.raises(PlanError, match=r"runs every 15 minutes, more often than one 1 hour bar"):
        decision_times(bars, BarSize.HOUR_1, "*/15 * * * *", UTC_SCHEDULE, MONDAY, MONDAY + timedelta(days=1))


def test_a_cadence_that_is_no_cron_is_refused_in_our_words_not_croniters() -> None:
    with pytest.raises(PlanError) as refused:
        decision_times(session_bars(MONDAY, 1), BarSize.HOUR_1, "hourly", UTC_SCHEDULE, MONDAY, MONDAY + HOUR * 24)
    assert str(refused.value) == (
        "cadence 'hourly' is not a cron expression (5 fields: minute hour day-of-month month weekday, "
        "e.g. '30 15 * * 1-5'), nor 'bar' or 'cron': it has 1 field, not 5: minute hour day-of-month month weekday"
    )


def test_a_cadence_with_a_field_out_of_range_is_refused_naming_the_field() -> None:
    with pytest.raises(PlanError, match=r"its hour field '25' is not valid: hour values are 0-23") as refused:
        decision_times(session_bars(MONDAY, 1), BarSize.HOUR_1, "0 25 * * *", UTC_SCHEDULE, MONDAY, MONDAY + HOUR * 24)
    assert "not acceptable" not in str(refused.value), "croniter's own words"


def test_a_period_in_which_no_bar_closed_is_refused() -> None:
    saturday = MONDAY + timedelta(days=5)
    with pytest.raises(PlanError, match=r"no 1 hour bar closed between"):
        decision_times(session_bars(MONDAY, 7), BarSize.HOUR_1, "bar", UTC_SCHEDULE, saturday, saturday + 2 * HOUR * 24)


def test_a_schedule_that_never_runs_after_a_bar_in_the_period_is_refused() -> None:
    """Bars on Monday only, and a schedule that runs on Sundays: the period ends before its first run."""
    schedule = Schedule(cron="0 12 * * 0", timezone="UTC")
    with pytest.raises(PlanError, match=r"does not run between the first bar close"):
        decision_times(session_bars(MONDAY, 1), BarSize.HOUR_1, "cron", schedule, MONDAY, MONDAY + timedelta(days=3))


def continuous_bars(bar_size: BarSize, count: int) -> list[Bar]:
    """``count`` bars of ``bar_size`` back to back from Monday 00:00 UTC, as a market that never closes."""
    step = timedelta(seconds=bar_size.seconds)
    return [Bar(time=MONDAY + step * n, open=1, high=1, low=1, close=1, volume=1) for n in range(count)]


def every_minute_strategy(bar_size: BarSize) -> StrategyDefinition:
    """A strategy on ``bar_size`` bars run every minute, as the demo strategy is."""
    return StrategyDefinition(
        name="s",
        symbol=SymbolRef(symbol="BTC"),
        bar_size=bar_size,
        duration=TIMEFRAME_HISTORY[bar_size],
        schedule=EVERY_MINUTE,
    )


@pytest.mark.parametrize("bar_size", list(BarSize))
def test_the_default_cadence_is_never_refused_as_finer_than_a_bar(bar_size: BarSize) -> None:
    """Over 200 bars of any size, the default plans decisions even when the strategy's own cron is too fine."""
    bars = continuous_bars(bar_size, 200)
    cadence = default_cadence(every_minute_strategy(bar_size))
    times = decision_times(bars, bar_size, cadence, EVERY_MINUTE, MONDAY, bar_close(bars[-1], bar_size))
    assert times


def test_a_month_of_one_minute_bars_around_the_clock_is_720_decisions_by_default() -> None:
    """The demo strategy's bars (BTC, 1 minute, every day): one decision an hour, not one a minute (43,200)."""
    bars = continuous_bars(BarSize.MIN_1, 30 * 24 * 60)
    cadence = default_cadence(every_minute_strategy(BarSize.MIN_1))
    times = decision_times(bars, BarSize.MIN_1, cadence, EVERY_MINUTE, MONDAY, MONDAY + timedelta(days=30))
    assert len(times) == 30 * 24
    assert times[:2] == [MONDAY + HOUR, MONDAY + 2 * HOUR]
