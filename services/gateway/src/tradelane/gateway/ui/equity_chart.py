"""The equity curve as SVG geometry: a polyline and labelled axis ticks, computed from snapshots.

The portfolio page draws it as an inline ``<svg>`` element, so the chart needs no script, no
chart library and no inline style (stroke and fill are SVG presentation attributes, which the
page's ``style-src 'self'`` allows; the rest is in ``app.css``). Coordinates are in the SVG's
own user units (:data:`WIDTH` x :data:`HEIGHT`); the element scales to its box.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Final

from tradelane.contracts.backtest_display import step_decimals, value_axis

WIDTH: Final = 720
HEIGHT: Final = 280
LEFT: Final = 84
"""Room for the equity labels."""
RIGHT: Final = 16
TOP: Final = 12
BOTTOM: Final = 36
"""Room for the time labels."""
VALUE_TICKS: Final = 5
TIME_TICKS: Final = 4


@dataclass(frozen=True)
class Tick:
    position: float
    """x for a time tick, y for a value tick, in user units."""
    label: str


@dataclass(frozen=True)
class EquityChart:
    points: str
    """The polyline's ``points`` attribute."""
    last: tuple[float, float]
    """Where the latest equity is drawn (marked with a dot)."""
    value_ticks: tuple[Tick, ...]
    time_ticks: tuple[Tick, ...]
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = WIDTH - RIGHT
    top: int = TOP
    bottom: int = HEIGHT - BOTTOM


def _value_range(values: Sequence[float]) -> tuple[float, float, float]:
    """Bounds that hold every value on round ticks, and the tick step; a flat curve gets room around it."""
    low, high = min(values), max(values)
    if high - low < max(abs(high) * 1e-6, 1e-9):
        pad = max(abs(high) * 0.001, 1.0)
        low, high = low - pad, high + pad
    return value_axis(low, high, VALUE_TICKS)


def _time_label(moment: datetime, span: timedelta) -> str:
    """As precise as the span needs: seconds within an hour, the date beyond a day."""
    if span < timedelta(hours=1):
        return moment.strftime("%H:%M:%S")
    return moment.strftime("%H:%M") if span <= timedelta(days=1) else moment.strftime("%m-%d %H:%M")


def equity_chart(snapshots: Sequence[tuple[datetime, Decimal]]) -> EquityChart | None:
    """The curve of (taken at, equity) pairs, oldest first; None when there is nothing to draw."""
    if not snapshots:
        return None
    times = [moment.timestamp() for moment, _ in snapshots]
    values = [float(equity) for _, equity in snapshots]
    low, high, step = _value_range(values)
    start, end = times[0], times[-1]
    if end - start < 1:
        start, end = start - 30, end + 30
    x_span, y_span = WIDTH - RIGHT - LEFT, HEIGHT - BOTTOM - TOP

    def x_of(moment: float) -> float:
        return round(LEFT + (moment - start) / (end - start) * x_span, 1)

    def y_of(value: float) -> float:
        return round(HEIGHT - BOTTOM - (value - low) / (high - low) * y_span, 1)

    points = [(x_of(moment), y_of(value)) for moment, value in zip(times, values, strict=True)]
    decimals = step_decimals(step)
    value_count = round((high - low) / step)
    value_ticks = tuple(
        Tick(y_of(low + index * step), f"{low + index * step:,.{decimals}f}") for index in range(value_count + 1)
    )
    first = snapshots[0][0].astimezone(UTC)
    span = timedelta(seconds=end - start)
    time_ticks = tuple(
        Tick(
            x_of(start + index * (end - start) / (TIME_TICKS - 1)),
            _time_label(first + timedelta(seconds=start - times[0] + index * (end - start) / (TIME_TICKS - 1)), span),
        )
        for index in range(TIME_TICKS)
    )
    return EquityChart(
        points=" ".join(f"{x},{y}" for x, y in points),
        last=points[-1],
        value_ticks=value_ticks,
        time_ticks=time_ticks,
    )
