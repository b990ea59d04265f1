"""Moments as operators type them (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tradelane.cli.timespec import parse_moment

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "moment"),
    [
        ("now", NOW),
        ("90s", NOW - timedelta(seconds=90)),
        ("15m", NOW - timedelta(minutes=15)),
        ("2h", NOW - timedelta(hours=2)),
        ("1.5d", NOW - timedelta(hours=36)),
        ("1w", NOW - timedelta(days=7)),
        ("10 min ago", NOW - timedelta(minutes=10)),
        ("2026-11-20", datetime(2026, 11, 20, tzinfo=UTC)),
        ("2026-11-20T14:30:00Z", datetime(2026, 11, 20, 14, 30, tzinfo=UTC)),
        ("2026-11-20T09:30:00-05:00", datetime(2026, 11, 20, 14, 30, tzinfo=UTC)),
        ("2026-11-20 14:30", datetime(2026, 11, 20, 14, 30, tzinfo=UTC)),
    ],
)
def test_moments_read_as_aware_utc(text: str, moment: datetime) -> None:
    assert parse_moment(text, NOW) == moment


def test_an_unreadable_moment_says_what_is_accepted() -> None:
    with pytest.raises(ValueError, match="ISO 8601"):
        parse_moment("last tuesday", NOW)
