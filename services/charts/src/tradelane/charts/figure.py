"""The chart of one execution as a Plotly figure: candles and overlays, then indicator panels.

Panels, top to bottom, each drawn only when its series is present: price (candles, moving
averages, Bollinger Bands, pattern marks, max/min/average of the close), SuperTrend, volume,
MACD, RSI, OBV and ATR. Each panel has its own legend, titled with the panel's name, above
its top-left corner. The same input always gives the same figure, and ``figure_json`` the
same bytes, so a chart is content-addressed by the sha256 of its JSON.

The figure is built as a plain dict in Plotly's figure schema rather than with
``plotly.graph_objects``: those validate every property as it is set, which made a
300-bar chart cost about 250 ms of CPU, while writing the dict costs a few. The tests
check that Plotly accepts the dict. Panels share one x axis, so they pan and zoom
together, and stack as y axes whose domains this module computes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import plotly.io as pio
from pydantic_core import from_json

from tradelane.contracts.market import Bar, PatternHit, ResolvedSymbol, price_decimals
from tradelane.contracts.strategy import BarSize
from tradelane.runtime.json_bytes import compact_json

SeriesValues = Sequence[float | None] | npt.NDArray[np.float64]
"""An indicator series: floats with None where there is no value, or a float64 array with NaN there."""
Figure = dict[str, Any]
"""A Plotly figure as JSON-ready data: ``{"data": [trace, ...], "layout": {...}}``."""

DEFAULT_WIDTH = 1280
DEFAULT_HEIGHT = 1400

_UP = "#26a69a"
_DOWN = "#ef5350"
_GREY = "#7f7f7f"
_BAND = "#5c6bc0"
_BAND_FILL = "rgba(92, 107, 192, 0.08)"
_LINE_COLOURS = ("#1f77b4", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")
_PRICE_WEIGHT = 3.0
_PANEL_WEIGHT = 1.0
_PANEL_GAP = 0.035
"""Space between two panels, as a fraction of the plotting height; each panel's legend sits in it."""
_MARK_OFFSET = 0.015
"""How far below the low (or above the high) a pattern mark sits, as a fraction of the price range."""

_MOVING_AVERAGE = re.compile(r"^(?P<kind>sma|ema|wma)_(?P<period>\d+)(?:_(?P<source>[a-z0-9]+))?$")
_MACD_KEYS = ("macd", "macd_signal", "macd_hist")
_SATURDAY = 5
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)

_TEMPLATE = json.dumps(pio.templates["plotly_white"].to_plotly_json())
"""The plotly_white template, embedded in every figure: a renderer resolves no template names.

Plotly builds it through its validators (about 0.3 s), so that happens once, at import, and
each figure gets a fresh copy parsed from this JSON (by pydantic-core: 50 µs, where ``json.loads`` takes 100).
"""


@dataclass(frozen=True)
class _Data:
    """Bars and series as plain lists, aligned on ``x`` (each bar's time in milliseconds since the Unix epoch)."""

    x: list[int]
    open: list[float]
    high: list[float]
    low: list[float]
    close: list[float]
    volume: list[float]
    series: dict[str, list[float | None]]
    decimals: int

    def price(self, value: float) -> str:
        return f"{value:,.{self.decimals}f}"


@dataclass(frozen=True)
class _Panel:
    title: str
    weight: float
    draw: Callable[[_Canvas, _Data], None]


@dataclass(frozen=True)
class _Canvas:
    """One panel of the figure: traces, shapes and notes added here land in its row and its legend."""

    figure: Figure
    row: int

    @property
    def legend(self) -> str:
        return "legend" if self.row == 1 else f"legend{self.row}"

    @property
    def yref(self) -> str:
        return "y" if self.row == 1 else f"y{self.row}"

    @property
    def yaxis(self) -> dict[str, Any]:
        """The layout of this panel's y axis."""
        axis: dict[str, Any] = self.figure["layout"]["yaxis" if self.row == 1 else f"yaxis{self.row}"]
        return axis

    def add(self, trace: dict[str, Any]) -> None:
        self.figure["data"].append({**trace, "xaxis": "x", "yaxis": self.yref, "legend": self.legend})

    def annotate(self, **annotation: Any) -> None:
        self.figure["layout"]["annotations"].append({**annotation, "yref": self.yref})

    def level(self, y: float) -> None:
        """A dashed horizontal line across the panel."""
        self.figure["layout"]["shapes"].append(
            {
                "type": "line",
                "xref": "paper",
                "x0": 0,
                "x1": 1,
                "yref": self.yref,
                "y0": y,
                "y1": y,
                "line": {"color": _GREY, "width": 1, "dash": "dash"},
            }
        )


def build_figure(
    symbol: ResolvedSymbol,
    bar_size: BarSize,
    bars: Sequence[Bar],
    series: Mapping[str, SeriesValues],
    patterns: Sequence[PatternHit],
    *,
    window: int | None = None,
    rsi_levels: tuple[float, float] = (30.0, 70.0),
) -> Figure:
    """The chart of ``bars`` (oldest first) with every indicator series that is present.

    ``series`` holds indicator outputs aligned with ``bars`` (sequences or float64 arrays; None,
    NaN or inf where there is no value): moving averages ``sma_*``/``ema_*``/``wma_*``, ``bb_upper``/``bb_middle``/
    ``bb_lower``, ``supertrend`` with ``supertrend_direction`` (+1 up, -1 down),
    ``volume_ma_*``, ``macd``/``macd_signal``/``macd_hist``, ``rsi_*``, ``obv`` and ``atr_*``.
    Keys it does not know are left out, as are ``patterns`` whose time is not a bar's.
    ``window``, when given, is how many of the latest bars the chart shows: the series were
    computed over all of ``bars`` and are cut with them, so a 200-bar average is drawn from the
    first candle shown, and the max, min and average close are those of the bars shown.
    ``rsi_levels`` are the oversold and overbought lines of the RSI panel.

    The figure is a dict in Plotly's figure schema, ready for ``figure_json`` or a renderer;
    gaps are None and times are milliseconds since the Unix epoch (see ``_x``). Panel ``n`` (from 1,
    top to bottom) draws on y axis ``y<n>`` (``y`` for the first) and lists its traces in
    legend ``legend<n>`` (``legend``); every panel shares the x axis ``x``.

    Raises ValueError when there are no bars, a series is not as long as the bars, or the
    window is not at least one bar.
    """
    if not bars:
        msg = "a chart needs at least one bar"
        raise ValueError(msg)
    _require_aligned(bars, series)
    if window is not None:
        if window < 1:
            msg = f"a chart shows at least one bar, not a window of {window}"
            raise ValueError(msg)
        bars = bars[-window:]
        series = {key: values[-window:] for key, values in series.items()}
    data = _data(symbol, bars, series)
    panels = _panels(data, rsi_levels)
    figure: Figure = {"data": [], "layout": _layout(symbol, bar_size, bars, data, panels)}
    for row, panel in enumerate(panels, start=1):
        panel.draw(_Canvas(figure, row), data)
    _annotate_close(_Canvas(figure, 1), data)
    _mark_patterns(_Canvas(figure, 1), data, patterns)
    return figure


def figure_json(figure: Figure) -> bytes:
    """The figure as compact JSON, keys in the order ``build_figure`` wrote them: the same input, the same bytes.

    Keys are not sorted, as they need not be: ``build_figure`` writes every dict in a fixed order
    (whatever the order of its ``series``), and the template in the order of ``_TEMPLATE``.
    Raises ValueError when the figure holds NaN or an infinity, which JSON cannot carry.
    """
    return compact_json(figure)


def _x(time: datetime) -> int:
    """A bar's time as the x of the date axis: milliseconds since the Unix epoch, which plotly.js reads as UTC.

    The same instant as the text ``2024-01-02 14:30:00`` the axis once had, in 13 characters instead of 21, on
    each of the figure's 20 traces (about a fifth of a 200-bar figure's bytes), and computed without formatting.
    """
    return (time - _EPOCH) // _MILLISECOND


def _require_aligned(bars: Sequence[Bar], series: Mapping[str, SeriesValues]) -> None:
    wrong = sorted(key for key, values in series.items() if len(values) != len(bars))
    if wrong:
        msg = f"series {', '.join(wrong)} do not have one value per bar ({len(bars)} bars)"
        raise ValueError(msg)


def _data(symbol: ResolvedSymbol, bars: Sequence[Bar], series: Mapping[str, SeriesValues]) -> _Data:
    return _Data(
        x=[_x(bar.time) for bar in bars],
        open=[float(bar.open) for bar in bars],
        high=[float(bar.high) for bar in bars],
        low=[float(bar.low) for bar in bars],
        close=[float(bar.close) for bar in bars],
        volume=[float(bar.volume) for bar in bars],
        series={key: _finite(values) for key, values in series.items()},
        decimals=price_decimals(symbol.min_tick),
    )


def _finite(values: SeriesValues) -> list[float | None]:
    """The values as plain floats, None where one is missing, NaN or inf."""
    array = np.asarray(values, dtype=np.float64)  # None is NaN
    converted: list[float | None] = array.tolist()
    for index in np.flatnonzero(~np.isfinite(array)).tolist():
        converted[index] = None
    return converted


def _numbered(data: _Data, prefix: str) -> list[str]:
    """Keys ``<prefix>_<period>``, shortest period first."""
    pattern = re.compile(rf"^{prefix}_(\d+)$")
    found = [(int(match[1]), key) for key in data.series if (match := pattern.match(key))]
    return [key for _, key in sorted(found)]


def _moving_averages(data: _Data) -> list[str]:
    """Keys of moving averages (``sma_20``, ``ema_50_hl2``), shortest period first."""
    found = [
        (int(match["period"]), match["kind"], match["source"] or "", key)
        for key in data.series
        if (match := _MOVING_AVERAGE.match(key))
    ]
    return [key for *_, key in sorted(found)]


def _titled(name: str, keys: Sequence[str]) -> str:
    return f"{name} {', '.join(key.rsplit('_', 1)[1] for key in keys)}"


def _panels(data: _Data, rsi_levels: tuple[float, float]) -> list[_Panel]:
    panels = [_Panel("Price", _PRICE_WEIGHT, _draw_price)]
    if "supertrend" in data.series:
        panels.append(_Panel("SuperTrend", _PANEL_WEIGHT, _draw_supertrend))
    if any(volume > 0 for volume in data.volume) or _numbered(data, "volume_ma"):
        panels.append(_Panel("Volume", _PANEL_WEIGHT, _draw_volume))
    if any(key in data.series for key in _MACD_KEYS):
        panels.append(_Panel("MACD", _PANEL_WEIGHT, _draw_macd))
    if rsi := _numbered(data, "rsi"):

        def draw_rsi(canvas: _Canvas, data: _Data) -> None:
            _draw_lines(canvas, data, rsi)
            for level in rsi_levels:
                canvas.level(level)
            canvas.yaxis["range"] = [0, 100]

        panels.append(_Panel(_titled("RSI", rsi), _PANEL_WEIGHT, draw_rsi))
    if "obv" in data.series:
        panels.append(_Panel("OBV", _PANEL_WEIGHT, lambda canvas, data: _draw_lines(canvas, data, ["obv"])))
    if atr := _numbered(data, "atr"):
        panels.append(_Panel(_titled("ATR", atr), _PANEL_WEIGHT, lambda canvas, data: _draw_lines(canvas, data, atr)))
    return panels


def _domains(weights: Sequence[float]) -> list[tuple[float, float]]:
    """Vertical extent (bottom, top) of each panel, top to bottom, in proportion to its weight.

    Rounded so that the bottom panel ends exactly at 0 and the top one at 1, as Plotly requires.
    """
    scale = (1 - _PANEL_GAP * (len(weights) - 1)) / sum(weights)
    domains = []
    above = 0.0
    for index, weight in enumerate(weights):
        top = 1 - above * scale - index * _PANEL_GAP
        above += weight
        domains.append((max(round(top - weight * scale, 6), 0.0), min(round(top, 6), 1.0)))
    return domains


def _legend(title: str, top: float) -> dict[str, Any]:
    """A panel's legend, one row above its top-left corner, titled with the panel's name."""
    return {
        "title": {"text": f"<b>{title}</b>", "side": "left"},
        "orientation": "h",
        "traceorder": "normal",
        "x": 0,
        "xanchor": "left",
        "y": top,
        "yanchor": "bottom",
        "font": {"size": 10},
        "bgcolor": "rgba(255, 255, 255, 0)",
    }


def _layout(
    symbol: ResolvedSymbol, bar_size: BarSize, bars: Sequence[Bar], data: _Data, panels: Sequence[_Panel]
) -> dict[str, Any]:
    """Title, size, template and the axes and legends of ``panels``, which are drawn into it afterwards.

    One x axis, under the bottom panel, serves every panel, so they pan and zoom together.
    plotly.js turns off the grid of an axis that bars stand on, so the volume and MACD bars on this
    shared one would take the time grid away from every panel without ``showgrid``.
    """
    last = bars[-1]
    when = f"{last.time.astimezone(UTC):%Y-%m-%d}"
    if bar_size.seconds < BarSize.DAY_1.seconds:
        when = f"{last.time.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    xaxis: dict[str, Any] = {
        "type": "date",  # numbers on an axis not told otherwise are read as numbers
        "anchor": "y" if len(panels) == 1 else f"y{len(panels)}",
        "showgrid": True,
        "rangeslider": {"visible": False},
    }
    if _hides_weekends(bar_size, bars):
        xaxis["rangebreaks"] = [{"bounds": ["sat", "mon"]}]
    layout: dict[str, Any] = {
        "template": from_json(_TEMPLATE),
        "width": DEFAULT_WIDTH,
        "height": DEFAULT_HEIGHT,
        "title": {
            "text": f"{symbol.symbol} · {bar_size.value} · last close {data.price(last.close)} {symbol.currency}"
            f" ({when})",
            "x": 0.01,
            "xanchor": "left",
        },
        "margin": {"l": 70, "r": 30, "t": 80, "b": 40},
        "hovermode": "x",
        "bargap": 0.1,
        "xaxis": xaxis,
        "annotations": [],
        "shapes": [],
    }
    for row, (panel, (bottom, top)) in enumerate(zip(panels, _domains([p.weight for p in panels]), strict=True), 1):
        suffix = "" if row == 1 else str(row)
        layout[f"yaxis{suffix}"] = {"anchor": "x", "domain": [bottom, top]}
        layout[f"legend{suffix}"] = _legend(panel.title, top)
    return layout


def _line(data: _Data, key: str, colour: str, *, width: float = 1.2, dash: str = "solid") -> dict[str, Any]:
    return {
        "type": "scatter",
        "x": data.x,
        "y": data.series[key],
        "name": key,
        "mode": "lines",
        "line": {"color": colour, "width": width, "dash": dash},
    }


def _draw_lines(canvas: _Canvas, data: _Data, keys: Sequence[str]) -> None:
    for index, key in enumerate(keys):
        canvas.add(_line(data, key, _LINE_COLOURS[index % len(_LINE_COLOURS)]))


def _draw_price(canvas: _Canvas, data: _Data) -> None:
    canvas.add(
        {
            "type": "candlestick",
            "x": data.x,
            "open": data.open,
            "high": data.high,
            "low": data.low,
            "close": data.close,
            "name": "candles",
            "increasing": {"line": {"color": _UP, "width": 1}, "fillcolor": _UP},
            "decreasing": {"line": {"color": _DOWN, "width": 1}, "fillcolor": _DOWN},
        }
    )
    if "bb_upper" in data.series:
        canvas.add(_line(data, "bb_upper", _BAND, width=0.8))
    if "bb_lower" in data.series:
        lower = _line(data, "bb_lower", _BAND, width=0.8)
        if "bb_upper" in data.series:
            lower.update(fill="tonexty", fillcolor=_BAND_FILL)
        canvas.add(lower)
    if "bb_middle" in data.series:
        canvas.add(_line(data, "bb_middle", _BAND, width=0.8, dash="dot"))
    _draw_lines(canvas, data, _moving_averages(data))


def _draw_supertrend(canvas: _Canvas, data: _Data) -> None:
    """The close with the SuperTrend line, green where the trend is up and red where it is down."""
    canvas.add(
        {
            "type": "scatter",
            "x": data.x,
            "y": data.close,
            "name": "close",
            "mode": "lines",
            "line": {"color": _GREY, "width": 1},
        }
    )
    direction = data.series.get("supertrend_direction")
    if direction is None:
        canvas.add(_line(data, "supertrend", _LINE_COLOURS[0], width=1.6))
        return
    for name, sign, colour in (("supertrend up", 1, _UP), ("supertrend down", -1, _DOWN)):
        y = [
            value if value is not None and side is not None and side * sign > 0 else None
            for value, side in zip(data.series["supertrend"], direction, strict=True)
        ]
        canvas.add(
            {
                "type": "scatter",
                "x": data.x,
                "y": y,
                "name": name,
                "mode": "lines",
                "line": {"color": colour, "width": 1.6},
            }
        )


def _draw_volume(canvas: _Canvas, data: _Data) -> None:
    colours = [_UP if close >= open_ else _DOWN for open_, close in zip(data.open, data.close, strict=True)]
    canvas.add(
        {"type": "bar", "x": data.x, "y": data.volume, "name": "volume", "marker": {"color": colours}, "opacity": 0.6}
    )
    _draw_lines(canvas, data, _numbered(data, "volume_ma"))


def _draw_macd(canvas: _Canvas, data: _Data) -> None:
    if "macd_hist" in data.series:
        histogram = data.series["macd_hist"]
        colours = [_DOWN if value is not None and value < 0 else _UP for value in histogram]
        canvas.add(
            {
                "type": "bar",
                "x": data.x,
                "y": histogram,
                "name": "macd_hist",
                "marker": {"color": colours},
                "opacity": 0.6,
            }
        )
    _draw_lines(canvas, data, [key for key in ("macd", "macd_signal") if key in data.series])


def _annotate_close(canvas: _Canvas, data: _Data) -> None:
    """Mark the highest and lowest close and draw the average close, as the original chart did."""
    highest = max(range(len(data.close)), key=data.close.__getitem__)
    lowest = min(range(len(data.close)), key=data.close.__getitem__)
    for label, index, rise in (("Max", highest, -25), ("Min", lowest, 25)):
        canvas.annotate(
            x=data.x[index],
            y=data.close[index],
            xref="x",
            text=f"{label} {data.price(data.close[index])}",
            showarrow=True,
            arrowhead=2,
            ax=40 if index < len(data.close) / 2 else -40,
            ay=rise,
            font={"size": 11},
            bgcolor="rgba(255, 255, 255, 0.8)",
        )
    average = sum(data.close) / len(data.close)
    canvas.level(average)
    canvas.annotate(
        x=0,
        xref="paper",
        xanchor="left",
        y=average,
        yanchor="bottom",
        text=f"Avg {data.price(average)}",
        showarrow=False,
        font={"size": 11, "color": _GREY},
    )


def _mark_patterns(canvas: _Canvas, data: _Data, patterns: Sequence[PatternHit]) -> None:
    """One labelled mark per bar and side: below the low when bullish, above the high when bearish."""
    index_of = {time: index for index, time in enumerate(data.x)}
    names: dict[tuple[bool, int], list[str]] = {}
    for hit in patterns:
        index = index_of.get(_x(hit.time))
        if index is not None:
            names.setdefault((hit.bullish, index), []).append(hit.pattern.removeprefix("CDL").lower())
    offset = (max(data.high) - min(data.low)) * _MARK_OFFSET
    for bullish, name, marker, position in (
        (True, "bullish pattern", "triangle-up", "bottom left"),
        (False, "bearish pattern", "triangle-down", "top left"),
    ):
        marked = sorted(index for side, index in names if side is bullish)
        if not marked:
            continue
        colour = _UP if bullish else _DOWN
        canvas.add(
            {
                "type": "scatter",
                "x": [data.x[index] for index in marked],
                "y": [data.low[index] - offset if bullish else data.high[index] + offset for index in marked],
                "text": [", ".join(sorted(names[bullish, index])) for index in marked],
                "name": name,
                "mode": "markers+text",
                "textposition": position,
                "cliponaxis": False,
                "textfont": {"size": 9, "color": colour},
                "marker": {"symbol": marker, "size": 9, "color": colour},
            }
        )


def _hides_weekends(bar_size: BarSize, bars: Sequence[Bar]) -> bool:
    """Weekends are gaps worth hiding for bars of a day or less, unless the market trades on them."""
    return bar_size.seconds <= BarSize.DAY_1.seconds and all(
        bar.time.astimezone(UTC).weekday() < _SATURDAY for bar in bars
    )
