"""Plain-text tables, times and durations for terminal output (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Left-aligned columns separated by two spaces; None prints as '-'."""
    cells = [[cell(value) for value in row] for row in rows]
    widths = [len(header) for header in headers]
    for row in cells:
        widths = [max(width, len(value)) for width, value in zip(widths, row, strict=True)]
    lines = [list(headers), *cells]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip() for line in lines)


def cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return timestamp(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def timestamp(moment: datetime) -> str:
    """UTC, to the second: '2026-11-20 14:30:05Z'."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def clock(moment: datetime) -> str:
    """UTC time of day to the millisecond: '14:30:05.123'."""
    return moment.astimezone(UTC).strftime("%H:%M:%S.%f")[:-3]


def duration(seconds: float | None) -> str:
    """'850 ms', '12.3 s', '4 min 05 s', '3 h 02 min', '2 d 04 h'."""
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = int(seconds)
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    if whole < 86400:
        return f"{whole // 3600} h {whole % 3600 // 60:02d} min"
    return f"{whole // 86400} d {whole % 86400 // 3600:02d} h"


def size(count: int) -> str:
    """Bytes in binary units: '512 B', '3.4 KiB', '12.0 MiB'."""
    if count < 1024:
        return f"{count} B"
    value = count / 1024
    for unit in ("KiB", "MiB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"
