"""Moments as operators type them: ISO 8601, a date, 'now', or a duration ago ('15m', '2h', '7d')."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_AGO = re.compile(r"^(?P<count>\d+(?:\.\d+)?)\s*(?P<unit>s|sec|m|min|h|d|w)(?:\s+ago)?$")
_UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
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
