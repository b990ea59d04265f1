"""Terminal formatting (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tradelane.cli.format import duration, size, table
from tradelane.runtime.summaries import clip


def test_a_table_aligns_columns_and_shows_none_as_a_dash() -> None:
    assert table(["A", "LONGER"], [["x", None], ["yyyy", 3]]).splitlines() == [
        "A     LONGER",
        "x     -",
        "yyyy  3",
    ]


def test_times_in_tables_are_utc_to_the_second() -> None:
    moment = datetime(2026, 11, 24, 12, 0, 5, 999, tzinfo=UTC)
    assert table(["AT"], [[moment]]).splitlines()[1] == "2026-11-24 12:00:05Z"


@pytest.mark.parametrize(
    ("seconds", "spelled"),
    [(0.85, "850 ms"), (12.34, "12.3 s"), (245, "4 min 05 s"), (10920, "3 h 02 min"), (187200, "2 d 04 h")],
)
def test_durations_read_naturally(seconds: float, spelled: str) -> None:
    assert duration(seconds) == spelled


@pytest.mark.parametrize(("count", "spelled"), [(512, "512 B"), (3482, "3.4 KiB"), (12 * 1024**2, "12.0 MiB")])
def test_sizes_use_binary_units(count: int, spelled: str) -> None:
    assert size(count) == spelled


def test_long_text_is_clipped_to_one_line() -> None:
    assert clip("a  b\nc " + "d" * 20, 10) == "a b c ddd…"
