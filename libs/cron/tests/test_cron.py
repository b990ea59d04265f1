"""Whether a cron can run, and when it runs next in its time zone (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tradelane.cron import CronError, cron_fault, cron_problem, fires_at, first_fire_from, next_fire, next_fires


def test_a_valid_cron_has_no_problem() -> None:
    assert cron_problem("0 16 * * 1-5") is None


def test_an_out_of_range_field_is_a_problem_that_names_the_field_and_its_values() -> None:
    problem = cron_problem("61 * * * *")
    assert problem is not None
    assert "61 * * * *" in problem
    assert "its minute field '61' is not valid: minute values are 0-59" in problem
    assert "not acceptable" not in problem, "croniter's own words"


def test_a_day_that_never_occurs_is_a_problem() -> None:
    problem = cron_problem("0 0 31 2 *")
    assert problem is not None
    assert "never occur" in problem


def test_next_fire_is_strictly_after_the_given_time() -> None:
    at = datetime(2026, 11, 23, 10, 5, tzinfo=UTC)
    assert next_fire("*/5 * * * *", "UTC", at) == datetime(2026, 11, 23, 10, 10, tzinfo=UTC)


def test_next_fire_reads_the_cron_in_the_strategy_time_zone() -> None:
    """4 pm in New York is 21:00 UTC in winter."""
    at = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    assert next_fire("0 16 * * 1-5", "America/New_York", at) == datetime(2026, 11, 23, 21, 0, tzinfo=UTC)


def test_next_fire_follows_daylight_saving_time() -> None:
    """4 pm in New York is 20:00 UTC in summer."""
    at = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
    assert next_fire("0 16 * * *", "America/New_York", at) == datetime(2026, 7, 1, 20, 0, tzinfo=UTC)


def test_next_fire_skips_the_weekend_for_weekday_crons() -> None:
    friday_evening = datetime(2026, 11, 27, 22, 0, tzinfo=UTC)
    assert next_fire("30 14 * * 1-5", "UTC", friday_evening) == datetime(2026, 11, 30, 14, 30, tzinfo=UTC)


def test_a_cron_without_five_fields_is_a_problem_that_says_which_five() -> None:
    assert cron_fault("* * * *") == "it has 4 fields, not 5: minute hour day-of-month month weekday"
    assert cron_fault("0 16 * * 1-5 0") == "it has 6 fields, not 5: minute hour day-of-month month weekday"


def test_a_cron_fault_is_told_in_our_words_not_croniters() -> None:
    fault = cron_fault("every day")
    assert fault is not None
    assert "columns" not in fault
    assert "iterator" not in fault


def test_a_cron_that_never_fires_has_no_next_fire() -> None:
    with pytest.raises(CronError, match="0 0 30 2"):
        next_fire("0 0 30 2 *", "UTC", datetime(2026, 1, 1, tzinfo=UTC))


def test_next_fires_follow_one_another_across_daylight_saving_time() -> None:
    """Five weekday runs at 4 pm New York over the November change: 21:00 UTC before it, 22:00 after."""
    fires = next_fires("0 16 * * 1-5", "America/New_York", datetime(2026, 10, 29, 12, 0, tzinfo=UTC), 5)
    assert fires == (
        datetime(2026, 10, 29, 20, 0, tzinfo=UTC),
        datetime(2026, 10, 30, 20, 0, tzinfo=UTC),
        datetime(2026, 11, 2, 21, 0, tzinfo=UTC),
        datetime(2026, 11, 3, 21, 0, tzinfo=UTC),
        datetime(2026, 11, 4, 21, 0, tzinfo=UTC),
    )


CRONS = (
    "* * * * *",
    "*/5 9-16 * * 1-5",
    "30 2 * * *",
    "0 16 * * 1-5",
    "15,45 1-3 * * *",
    "0 0 1-7 * 7",
    "*/1 * */1 * *",
    "0 12 L * *",
    "0 9 * * 5#2",
)
CHANGES = (
    ("America/New_York", datetime(2025, 3, 9, 7, tzinfo=UTC)),
    ("America/New_York", datetime(2025, 11, 2, 6, tzinfo=UTC)),
    ("Europe/Berlin", datetime(2025, 3, 30, 1, tzinfo=UTC)),
    ("Australia/Lord_Howe", datetime(2025, 4, 5, 15, tzinfo=UTC)),
    ("UTC", datetime(2026, 1, 31, 12, tzinfo=UTC)),
)


@pytest.mark.parametrize(("timezone", "change"), CHANGES)
def test_first_fire_from_agrees_with_next_fire_across_daylight_saving_changes(timezone: str, change: datetime) -> None:
    """Minutes of the three days either side of a change of the clocks (or of a plain day), and runs among them."""
    for cron in CRONS:
        moments = {change + timedelta(minutes=minute) for minute in range(-3 * 1440, 3 * 1440, 67)}
        moments.update(next_fires(cron, timezone, change - timedelta(days=3), 12))
        moments.update(next_fires(cron, timezone, change - timedelta(hours=2), 12))
        for moment in moments:
            expected = next_fire(cron, timezone, moment - timedelta(minutes=1))
            assert first_fire_from(cron, timezone, moment) == expected, (cron, moment)
            assert fires_at(cron, timezone, moment) == (expected == moment), (cron, moment)


def test_fires_at_a_time_off_the_minute_is_false() -> None:
    assert not fires_at("* * * * *", "UTC", datetime(2025, 1, 1, 0, 0, 30, tzinfo=UTC))


def test_the_first_fire_from_a_time_off_the_minute_is_at_a_later_minute() -> None:
    assert first_fire_from("* * * * *", "UTC", datetime(2025, 1, 1, 0, 0, 30, tzinfo=UTC)) == datetime(
        2025, 1, 1, 0, 1, tzinfo=UTC
    )
