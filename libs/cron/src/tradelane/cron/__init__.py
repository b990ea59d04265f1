"""Strategy schedules, one rule each: whether a cron can run, and when it runs next.

The gateway refuses a schedule with :func:`cron_problem` and shows :func:`next_fire` as a
strategy's next run (and :func:`next_fires` when a strategy is checked before saving); the
scheduler fires at :func:`next_fire`. Both read the cron in the
strategy's time zone, so they agree on every run, daylight saving time included.
croniter does the calendar work. The backtester replays a schedule over a past period and asks
:func:`first_fire_from` each bar close, which answers as :func:`next_fire` would, mostly a hundred
times faster.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from croniter import croniter
from croniter.croniter import CroniterError

FIELDS: Final = ("minute", "hour", "day-of-month", "month", "weekday")
"""A cron's five fields, in order."""
CRON_HINT: Final = "use five fields: minute hour day-of-month month weekday, for example '0 16 * * 1-5'"
_FIELD_VALUES: Final = ("0-59", "0-23", "1-31", "1-12 or jan-dec", "0-7 or sun-sat (0 and 7 are Sunday)")


class CronError(ValueError):
    """A cron croniter cannot run: its syntax is wrong, or no date ever matches it."""


def cron_fault(expression: str) -> str | None:
    """What is wrong with ``expression`` as a five-field cron, in our words (never croniter's); None when it can run.

    The check is strict: a day that never occurs in the months given (``0 0 31 2 *``) is
    refused, since such a strategy would never run.
    """
    fields = expression.split()
    if len(fields) != len(FIELDS):
        return f"it has {len(fields)} field{'' if len(fields) == 1 else 's'}, not 5: {' '.join(FIELDS)}"
    if croniter.is_valid(expression, strict=True):
        return None
    for index, (name, values) in enumerate(zip(FIELDS, _FIELD_VALUES, strict=True)):
        alone = " ".join(field if at == index else "*" for at, field in enumerate(fields))
        if not croniter.is_valid(alone, strict=True):
            return (
                f"its {name} field {fields[index]!r} is not valid: {name} values are {values}, "
                "written as a value, a range a-b, a list a,b, a step */n or *"
            )
    return "no date ever matches it: a day-of-month given never occurs in the months given"


def cron_problem(expression: str) -> str | None:
    """What is wrong with ``expression`` as a schedule (:func:`cron_fault`, with a hint), or None when the scheduler
    can run it."""
    fault = cron_fault(expression)
    return None if fault is None else f"cron {expression!r} is not valid: {fault}; {CRON_HINT}"


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


_MINUTE: Final = timedelta(minutes=1)
_DAY: Final = timedelta(days=1)


def fires_at(cron: str, timezone: str, moment: datetime) -> bool:
    """Whether ``cron`` fires at ``moment`` in ``timezone``: ``next_fire(cron, timezone, moment - 1 min) == moment``."""
    return not (moment.second or moment.microsecond) and first_fire_from(cron, timezone, moment) == moment


def first_fire_from(cron: str, timezone: str, moment: datetime) -> datetime:
    """The first time at or after ``moment`` that ``cron`` fires in ``timezone`` (aware UTC).

    The same as :func:`next_fire` of the minute before ``moment`` (rounded up to a minute). Within
    :data:`SCANNED_MINUTES` of ``moment`` it is read off the cron's fields where they are plain
    (numbers, ranges, steps, lists and ``*``) and no change of the clocks is near, else :func:`next_fire`
    answers.
    """
    start = moment.replace(second=0, microsecond=0)
    if start < moment:
        start += _MINUTE
    fields = _plain_fields(cron)
    zone = ZoneInfo(timezone)
    if fields is None or (start - _DAY).astimezone(zone).utcoffset() != (start + _DAY).astimezone(zone).utcoffset():
        return next_fire(cron, timezone, start - _MINUTE)
    for step in range(SCANNED_MINUTES):
        candidate = start + step * _MINUTE
        if _matches(fields, candidate.astimezone(zone)):
            return candidate
    return next_fire(cron, timezone, start + (SCANNED_MINUTES - 1) * _MINUTE)


SCANNED_MINUTES: Final = 60
"""Minutes :func:`first_fire_from` reads off a plain cron's fields before it asks :func:`next_fire` (0.3 ms)."""


def _matches(fields: Fields, local: datetime) -> bool:
    minutes, hours, days, months, weekdays = fields
    if not (_within(minutes, local.minute) and _within(hours, local.hour) and _within(months, local.month)):
        return False
    day, weekday = _within(days, local.day), _within(weekdays, local.isoweekday() % 7)
    # as croniter reads a cron: with both day fields restricted, either may match
    return day or weekday if days is not None and weekdays is not None else day and weekday


Field = frozenset[int] | None
"""The values a cron field allows; None for ``*`` (any)."""
Fields = tuple[Field, Field, Field, Field, Field]


def _within(field: Field, value: int) -> bool:
    return field is None or value in field


@functools.lru_cache(maxsize=256)
def _plain_fields(cron: str) -> Fields | None:
    """The five fields of ``cron`` as sets of values, or None when one uses L, W, # or ? (or it does not parse)."""
    try:
        expanded, nth_weekdays = croniter.expand(cron)
    except CroniterError:
        return None
    if nth_weekdays or len(expanded) != 5:
        return None
    fields: list[Field] = []
    for values in expanded:
        if values == ["*"]:
            fields.append(None)
        elif all(isinstance(value, int) for value in values):
            fields.append(frozenset(values))
        else:
            return None
    minutes, hours, days, months, weekdays = fields
    return minutes, hours, days, months, weekdays
