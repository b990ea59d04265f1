"""The chart of one execution as a Plotly figure: candles and overlays, then indicator panels.

Panels, top to bottom, each drawn only when its series is present: price (candles, moving
averages, Bollinger Bands, pattern marks, max/min/average of the close), SuperTrend, volume,
MACD, RSI, OBV and ATR. The same input always gives the same figure, and ``figure_json``
the same bytes, so a chart is content-addressed by the sha256 of its JSON.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC
from decimal import Decimal

import plotly.graph_objects as go
from plotly.utils import PlotlyJSONEncoder
from plotly.subplots import make_subplots

from tradelane.contracts.market import Bar, PatternHit, ResolvedSymbol
from tradelane.contracts.strategy import BarSize

DEFAULT_WIDTH = 1280
DEFAULT_HEIGHT = 1400

Series = Sequence[float | None]

_UP = "#26a69a"
_DOWN = "#ef5350"
_CLOSE = "#7f7f7f"
_BAND = "#5c6bc0"
_LINE_COLOURS = ("#1f77b4", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")
_PRICE_WEIGHT = 3.0
_PANEL_WEIGHT = 1.0
_MARK_OFFSET = 0.015
"""How far below the low (or above the high) a pattern mark sits, as a fraction of the price range."""

_MOVING_AVERAGE = re.compile(r"^(?P<kind>sma|ema|wma)_(?P<period>\d+)(?:_(?P<source>[a-z0-9]+))?$")
_MACD_KEYS = ("macd", "macd_signal", "macd_hist")
_BAND_KEYS = ("bb_upper", "bb_middle", "bb_lower")
_SATURDAY = 5


@dataclass(frozen=True)
class _Data:
    """Bars and series as plain lists, aligned on ``x`` (UTC timestamps without offset)."""

    x: list[str]
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
    draw: Callable[[go.Figure, _Data, int], None]


def build_figure(
    symbol: ResolvedSymbol,
    bar_size: BarSize,
    bars: Sequence[Bar],
    series: Mapping[str, Series],
    patterns: Sequence[PatternHit],
    *,
    rsi_levels: tuple[float, float] = (30.0, 70.0),
) -> go.Figure:
    """The chart of ``bars`` (oldest first) with every indicator series that is present.

    ``series`` holds indicator outputs aligned with ``bars`` (None, NaN or inf where there is
    no value): moving averages ``sma_*``/``ema_*``/``wma_*``, ``bb_upper``/``bb_middle``/
    ``bb_lower``, ``supertrend`` with ``supertrend_direction`` (+1 up, -1 down),
    ``volume_ma_*``, ``macd``/``macd_signal``/``macd_hist``, ``rsi_*``, ``obv`` and ``atr_*``.
    Keys it does not know are left out. ``patterns`` whose time is not a bar's are left out.
    ``rsi_levels`` are the oversold and overbought lines of the RSI panel.

    Raises ValueError when there are no bars or a series is not as long as the bars.
    """
    if not bars:
        msg = "a chart needs at least one bar"
        raise ValueError(msg)
    data = _data(symbol, bars, series)
    panels = _panels(data, rsi_levels)
    fig = make_subplots(
        rows=len(panels),
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.03,
        row_heights=[panel.weight for panel in panels],
        subplot_titles=[panel.title for panel in panels],
    )
    for row, panel in enumerate(panels, start=1):
        panel.draw(fig, data, row)
    _annotate_close(fig, data)
    _mark_patterns(fig, data, patterns)
    _lay_out(fig, symbol, bar_size, bars, data)
    return fig


def figure_json(fig: go.Figure) -> bytes:
    """The figure as compact JSON with sorted keys: equal figures give equal bytes."""
    figure = fig.to_plotly_json()
    for trace in figure.get("data", []):
        trace.pop("uid", None)
    text = json.dumps(figure, cls=PlotlyJSONEncoder, sort_keys=True, separators=(",", ":"))
    return text.encode()


def _data(symbol: ResolvedSymbol, bars: Sequence[Bar], series: Mapping[str, Series]) -> _Data:
    wrong = sorted(key for key, values in series.items() if len(values) != len(bars))
    if wrong:
        msg = f"series {', '.join(wrong)} are not aligned with the {len(bars)} bars"
        raise ValueError(msg)
    return _Data(
        x=[bar.time.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") for bar in bars],
        open=[bar.open for bar in bars],
        high=[bar.high for bar in bars],
        low=[bar.low for bar in bars],
        close=[bar.close for bar in bars],
        volume=[bar.volume for bar in bars],
        series={key: [_finite(value) for value in values] for key, values in series.items()},
        decimals=_decimals(symbol.min_tick),
    )


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _decimals(min_tick: float) -> int:
    exponent = Decimal(str(min_tick)).normalize().as_tuple().exponent
    assert isinstance(exponent, int)
    return min(max(-exponent, 0), 8)


def _numbered(data: _Data, prefix: str) -> list[str]:
    """Keys ``<prefix>_<period>``, shortest period first."""
    pattern = re.compile(rf"^{prefix}_(\d+)$")
    found = [(int(match[1]), key) for key in data.series if (match := pattern.match(key))]
    return [key for _, key in sorted(found)]


def _moving_averages(data: _Data) -> list[str]:
    found = []
    for key in data.series:
        if match := _MOVING_AVERAGE.match(key):
            found.append((int(match["period"]), match["kind"], match["source"] or "", key))
    return [key for *_, key in sorted(found)]


def _periods_title(name: str, keys: Sequence[str]) -> str:
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

        def draw_rsi(fig: go.Figure, data: _Data, row: int) -> None:
            _draw_lines(fig, data, row, rsi)
            for level in rsi_levels:
                fig.add_hline(y=level, row=row, col=1, line={"color": _CLOSE, "width": 1, "dash": "dash"})
            fig.update_yaxes(range=[0, 100], row=row, col=1)

        panels.append(_Panel(_periods_title("RSI", rsi), _PANEL_WEIGHT, draw_rsi))
    if "obv" in data.series:
        panels.append(_Panel("OBV", _PANEL_WEIGHT, lambda fig, data, row: _draw_lines(fig, data, row, ["obv"])))
    if atr := _numbered(data, "atr"):
        panels.append(
            _Panel(
                _periods_title("ATR", atr),
                _PANEL_WEIGHT,
                lambda fig, data, row: _draw_lines(fig, data, row, atr),
            )
        )
    return panels


def _line(data: _Data, key: str, colour: str, *, width: float = 1.2, dash: str = "solid") -> go.Scatter:
    return go.Scatter(
        x=data.x, y=data.series[key], name=key, mode="lines", line={"color": colour, "width": width, "dash": dash}
    )


def _draw_lines(fig: go.Figure, data: _Data, row: int, keys: Sequence[str]) -> None:
    for index, key in enumerate(keys):
        fig.add_trace(_line(data, key, _LINE_COLOURS[index % len(_LINE_COLOURS)]), row=row, col=1)


def _draw_price(fig: go.Figure, data: _Data, row: int) -> None:
    fig.add_trace(
        go.Candlestick(
            x=data.x,
            open=data.open,
            high=data.high,
            low=data.low,
            close=data.close,
            name="Price",
            increasing={"line": {"color": _UP}, "fillcolor": _UP},
            decreasing={"line": {"color": _DOWN}, "fillcolor": _DOWN},
        ),
        row=row,
        col=1,
    )
    _draw_bands(fig, data, row)
    _draw_lines(fig, data, row, _moving_averages(data))


def _draw_bands(fig: go.Figure, data: _Data, row: int) -> None:
    if "bb_upper" in data.series:
        fig.add_trace(_line(data, "bb_upper", _BAND, width=0.8), row=row, col=1)
    if "bb_lower" in data.series:
        lower = _line(data, "bb_lower", _BAND, width=0.8)
        if "bb_upper" in data.series:
            lower.update(fill="tonexty", fillcolor="rgba(92, 107, 192, 0.08)")
        fig.add_trace(lower, row=row, col=1)
    if "bb_middle" in data.series:
        fig.add_trace(_line(data, "bb_middle", _BAND, width=0.8, dash="dot"), row=row, col=1)


def _draw_supertrend(fig: go.Figure, data: _Data, row: int) -> None:
    fig.add_trace(
        go.Scatter(
            x=data.x,
            y=data.close,
            name="close",
            mode="lines",
            line={"color": _CLOSE, "width": 1},
            showlegend=False,
        ),
        row=row,
        col=1,
    )
    values = data.series["supertrend"]
    direction = data.series.get("supertrend_direction")
    if direction is None:
        fig.add_trace(_line(data, "supertrend", _LINE_COLOURS[0]), row=row, col=1)
        return
    for name, sign, colour in (("supertrend up", 1, _UP), ("supertrend down", -1, _DOWN)):
        y = [
            value if value is not None and side is not None and side * sign > 0 else None
            for value, side in zip(values, direction, strict=True)
        ]
        fig.add_trace(
            go.Scatter(x=data.x, y=y, name=name, mode="lines", line={"color": colour, "width": 1.6}),
            row=row,
            col=1,
        )


def _draw_volume(fig: go.Figure, data: _Data, row: int) -> None:
    colours = [_UP if close >= open_ else _DOWN for open_, close in zip(data.open, data.close, strict=True)]
    fig.add_trace(
        go.Bar(x=data.x, y=data.volume, name="volume", marker={"color": colours}, opacity=0.6, showlegend=False),
        row=row,
        col=1,
    )
    _draw_lines(fig, data, row, _numbered(data, "volume_ma"))


def _draw_macd(fig: go.Figure, data: _Data, row: int) -> None:
    if "macd_hist" in data.series:
        histogram = data.series["macd_hist"]
        colours = [_DOWN if value is not None and value < 0 else _UP for value in histogram]
        fig.add_trace(
            go.Bar(x=data.x, y=histogram, name="macd_hist", marker={"color": colours}, opacity=0.6),
            row=row,
            col=1,
        )
    _draw_lines(fig, data, row, [key for key in ("macd", "macd_signal") if key in data.series])


def _annotate_close(fig: go.Figure, data: _Data) -> None:
    """Mark the highest and lowest close and draw the average close, as the original chart did."""
    highest = max(range(len(data.close)), key=data.close.__getitem__)
    lowest = min(range(len(data.close)), key=data.close.__getitem__)
    for label, index, offset in (("Max", highest, -30), ("Min", lowest, 30)):
        fig.add_annotation(
            x=data.x[index],
            y=data.close[index],
            text=f"{label} {data.price(data.close[index])}",
            showarrow=True,
            arrowhead=2,
            ax=0,
            ay=offset,
            font={"size": 11},
            bgcolor="rgba(255, 255, 255, 0.8)",
            row=1,
            col=1,
        )
    average = sum(data.close) / len(data.close)
    fig.add_hline(
        y=average,
        row=1,
        col=1,
        line={"color": _CLOSE, "width": 1, "dash": "dot"},
        annotation={"text": f"Avg {data.price(average)}", "font": {"size": 11}},
        annotation_position="top left",
    )


def _mark_patterns(fig: go.Figure, data: _Data, patterns: Sequence[PatternHit]) -> None:
    """One mark per bar and direction: below the low when bullish, above the high when bearish."""
    index_of = {time: index for index, time in enumerate(data.x)}
    names: dict[tuple[bool, int], list[str]] = {}
    for hit in patterns:
        index = index_of.get(hit.time.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"))
        if index is not None:
            names.setdefault((hit.bullish, index), []).append(hit.pattern.removeprefix("CDL").lower())
    offset = (max(data.high) - min(data.low)) * _MARK_OFFSET
    for bullish, name, symbol, position in (
        (True, "bullish patterns", "triangle-up", "bottom center"),
        (False, "bearish patterns", "triangle-down", "top center"),
    ):
        marked = sorted(index for side, index in names if side is bullish)
        if not marked:
            continue
        fig.add_trace(
            go.Scatter(
                x=[data.x[index] for index in marked],
                y=[data.low[index] - offset if bullish else data.high[index] + offset for index in marked],
                text=[", ".join(sorted(names[bullish, index])) for index in marked],
                name=name,
                mode="markers+text",
                textposition=position,
                textfont={"size": 9, "color": _UP if bullish else _DOWN},
                marker={"symbol": symbol, "size": 9, "color": _UP if bullish else _DOWN},
            ),
            row=1,
            col=1,
        )


def _lay_out(fig: go.Figure, symbol: ResolvedSymbol, bar_size: BarSize, bars: Sequence[Bar], data: _Data) -> None:
    last = bars[-1]
    title = (
        f"{symbol.symbol} · {bar_size.value} · last close {data.price(last.close)} {symbol.currency}"
        f" ({last.time.astimezone(UTC):%Y-%m-%d %H:%M} UTC)"
    )
    fig.update_layout(
        template="plotly_white",
        width=DEFAULT_WIDTH,
        height=DEFAULT_HEIGHT,
        title={"text": title, "x": 0.01, "xanchor": "left"},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.01, "xanchor": "right", "x": 1, "font": {"size": 10}},
        margin={"l": 70, "r": 30, "t": 90, "b": 40},
        hovermode="x",
        bargap=0.1,
    )
    fig.update_xaxes(rangeslider_visible=False)
    if _hides_weekends(bar_size, bars):
        fig.update_xaxes(rangebreaks=[{"bounds": ["sat", "mon"]}])


def _hides_weekends(bar_size: BarSize, bars: Sequence[Bar]) -> bool:
    """Weekends are gaps worth hiding for bars of a day or less, unless the market trades on them."""
    return bar_size.seconds <= BarSize.DAY_1.seconds and all(
        bar.time.astimezone(UTC).weekday() < _SATURDAY for bar in bars
    )
