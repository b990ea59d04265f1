"""Moments as operators type them: ISO 8601, a date, 'now', or a duration ago ('15m', '2h', '7d')."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_AGO = re.compile(r"^(?P<count>\d+(?:\.\d+)?)\s*(?P<unit>s|sec|m|min|h|d|w)(?:\s+ago)?$")
_UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}
_LIFETIME = re.compile(r"^(?P<count>\d+(?:\.\d+)?)\s*(?P<unit>m|min|h|d|w|y)$")
HINT = (
    "use ISO 8601 ('2026-11-20T14:30:00Z'), a date ('2026-11-20'), 'now', or a duration ago ('90s', '15m', '2h', '7d')"
)


def parse_moment(text: str, now: datetime) -> datetime:
    """The aware UTC moment ``text`` means, relative to ``now`` for durations; naive times are UTC."""
    spelled = text.strip().lower()
    if spelled == "now":
        return now
    ago = _AGO.match(spelled)
    if ago is not None:
        return now - timedelta(seconds=float(ago["count"]) * _UNITS[ago["unit"]])
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError as error:
        raise ValueError(f"cannot read {text!r} as a time; {HINT}") from error
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_lifetime(text: str) -> timedelta:
    """How long something lasts, as operators type it: '90d', '12h', '2w', '1y'."""
    spelled = _LIFETIME.match(text.strip().lower())
    if spelled is None or float(spelled["count"]) <= 0:
        raise ValueError(
            f"cannot read {text!r} as a lifetime; use a number and a unit: '30m', '12h', '90d', '2w', '1y'"
        )
    return timedelta(seconds=float(spelled["count"]) * _UNITS[spelled["unit"]])
