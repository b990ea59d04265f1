"""Cron checks and next-run times of strategy schedules (pure; croniter does the calendar work)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from croniter import croniter
from croniter.croniter import CroniterError

from tradelane.contracts.strategy import StrategyDefinition

CRON_HINT = "use five fields: minute hour day-of-month month weekday, for example '0 16 * * 1-5'"


def cron_problem(expression: str) -> str | None:
    """What is wrong with ``expression`` as a schedule, or None when the scheduler can run it.

    The check is strict: a day that never occurs in the months given (``0 0 31 2 *``) is
    refused, since such a strategy would never run.
    """
    if croniter.is_valid(expression, strict=True):
        return None
    try:
        croniter.expand(expression, strict=True)
    except CroniterError as error:
        return f"cron {expression!r} is not valid: {error}; {CRON_HINT}"
    return f"cron {expression!r} is not valid; {CRON_HINT}"


def next_run_at(definition: StrategyDefinition, now: datetime) -> datetime | None:
    """When the scheduler next runs ``definition`` after ``now`` (aware UTC).

    The cron is read in the strategy's time zone, so '0 16 * * 1-5' in America/New_York follows
    daylight saving time. None for an inactive strategy, or a cron that never fires.
    """
    if not definition.active:
        return None
    local_now = now.astimezone(ZoneInfo(definition.schedule.timezone))
    try:
        upcoming: datetime = croniter(definition.schedule.cron, local_now).get_next(datetime)
    except CroniterError:
        return None
    return upcoming.astimezone(UTC)
