"""Strategy schedules, one rule each: whether a cron can run, and when it runs next.

The gateway refuses a schedule with :func:`cron_problem` and shows :func:`next_fire` as a
strategy's next run (and :func:`next_fires` when a strategy is checked before saving); the
scheduler fires at :func:`next_fire`. Both read the cron in the
strategy's time zone, so they agree on every run, daylight saving time included.
croniter does the calendar work.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final
from zoneinfo import ZoneInfo

from croniter import croniter
from croniter.croniter import CroniterError

CRON_HINT: Final = "use five fields: minute hour day-of-month month weekday, for example '0 16 * * 1-5'"


class CronError(ValueError):
    """A cron croniter cannot run: its syntax is wrong, or no date ever matches it."""


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


def next_fire(cron: str, timezone: str, after: datetime) -> datetime:
    """The first time strictly after ``after`` that ``cron`` matches, read in ``timezone`` (aware UTC).

    The cron is evaluated in local time, so '0 16 * * 1-5' in America/New_York is 4 pm New
    York across daylight-saving changes. Raises :class:`CronError` for a cron that never fires.
    """
    local_after = after.astimezone(ZoneInfo(timezone))
    try:
        fire: datetime = croniter(cron, local_after).get_next(datetime)
    except CroniterError as error:
        msg = f"cron {cron!r} has no run after {after.isoformat()}: {error}"
        raise CronError(msg) from error
    return fire.astimezone(UTC)


def next_fires(cron: str, timezone: str, after: datetime, count: int) -> tuple[datetime, ...]:
    """The first ``count`` times strictly after ``after`` that ``cron`` matches in ``timezone`` (aware UTC).

    Each is :func:`next_fire` of the one before, so the list agrees with the scheduler run by run.
    Raises :class:`CronError` for a cron that never fires.
    """
    fires: list[datetime] = []
    moment = after
    for _ in range(count):
        moment = next_fire(cron, timezone, moment)
        fires.append(moment)
    return tuple(fires)
