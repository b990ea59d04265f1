"""A backtest's report: one self-contained HTML document (pure; nothing is read or written here).

The document carries everything it shows: an inline stylesheet, inline SVG charts drawn here
(polylines in a ``viewBox``, no plotting library), and the highlighted decisions' chart PNGs as
``data:`` URLs. It has no script and names no outside address, and its own Content-Security-Policy
forbids both, so it can be opened from disk, mailed, or served as a download as it is.

Every text that comes from a user or a model (the strategy's and backtest's names, variant labels,
model answers, rule and error texts) is escaped with :func:`html.escape` where it is written.

Sections, in order: the title (strategy, period, cadence, variants); the metrics of each variant
beside the offline rules analyst and buy-and-hold; the A/B comparison with its intervals and what
they say; the equity, drawdown and price charts (one price chart per variant asked for, with its
trades); the trades; the best and worst decisions with their chart and answer (a section per variant
asked for when two are compared); the decision log.
"""

from __future__ import annotations

import base64
import bisect
import html
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Final, Literal

import numpy as np

from tradelane.backtester.comparison import verdict
from tradelane.backtester.metrics import METRIC_INFO, METRICS, MetricInfo, drawdowns
from tradelane.contracts.backtest import (
    OFFLINE_VARIANT,
    BacktestDecisionRecord,
    BacktestMetrics,
    BacktestResult,
    BacktestSummary,
    EquityPoint,
    MetricDifference,
    SimulatedTrade,
    VariantResult,
)
from tradelane.contracts.backtest_display import (
    COULD_BE_CHANCE,
    cadence_text,
    compared_labels,
    step_decimals,
    value_axis,
)
from tradelane.contracts.market import Bar


@dataclass(frozen=True)
class Highlight:
    """One of the best or worst decisions of a variant, with what the model saw and said."""

    label: Literal["best", "worst"]
    variant: str
    decision: BacktestDecisionRecord
    trade_pnl: Decimal | None
    """P&L of the trade the decision opened (None: it opened none)."""
    chart_png: bytes | None
    """The chart the analyst read (None: not kept or not rendered)."""
    answer: str
    """The model's reasoning as it answered it: untrusted text."""


BUY_AND_HOLD: Final = "buy and hold"
_NOT_DEFINED: Final = "n/a"
_PALETTE: Final = ("#1f5fbf", "#d9730d", "#7a3e9d", "#c2185b")
_OFFLINE_COLOR: Final = "#2a9d8f"
_HOLD_COLOR: Final = "#5d6678"
_LONG_COLOR: Final = "#1e7a3c"
_SHORT_COLOR: Final = "#b3261e"
_EXIT_COLOR: Final = "#1d2330"


def render_report(
    summary: BacktestSummary,
    result: BacktestResult,
    *,
    bars: Sequence[Bar],
    decisions: Sequence[BacktestDecisionRecord],
    highlights: Sequence[Highlight],
    buy_and_hold_equity: Sequence[EquityPoint],
) -> str:
    """The report as one HTML document."""
    sections = (
        _header(summary, result),
        _metrics_section(result),
        _comparison_section(result),
        _charts_section(summary, result, bars, buy_and_hold_equity),
        _trades_section(result),
        *_highlights_sections(result, highlights),
        _decision_log(decisions),
    )
    return _document(f"Backtest {summary.name}", "\n".join(section for section in sections if section))


# --- text ------------------------------------------------------------------------------------------


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def variant_name(label: str) -> str:
    """How the report names a variant: its label, the offline baseline by what it is."""
    return "offline rules analyst" if label == OFFLINE_VARIANT else label


def _when(moment: datetime | None) -> str:
    return _NOT_DEFINED if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def _money(amount: Decimal | float | None) -> str:
    if amount is None:
        return _NOT_DEFINED
    if 0 < abs(float(amount)) < 0.005:
        return "< 0.01" if amount > 0 else "> -0.01"
    return f"{amount:,.2f}"


def _usd(amount: Decimal | float | None) -> str:
    """A model cost: to the cent from a dollar on, to a hundredth of a cent below (calls cost fractions of one)."""
    if amount is None:
        return _NOT_DEFINED
    return f"{amount:,.2f}" if abs(float(amount)) >= 1 or amount == 0 else f"{amount:,.4f}"


def _plain(number: Decimal) -> str:
    """A quantity or rate as written, without exponent or trailing zeros."""
    return f"{number.normalize():f}"


def _price(price: Decimal) -> str:
    """A price with its own decimals, at least two: 176.90, 1.08765."""
    written = _plain(price)
    decimals = len(written.partition(".")[2])
    return f"{price:,.{max(decimals, 2)}f}"


def format_metric(info: MetricInfo, value: float | Decimal | None) -> str:
    """A metric's value as the report shows it: percentages, ratios with two decimals, money to the cent."""
    if value is None:
        return _NOT_DEFINED
    if info.kind == "percent":
        return f"{float(value) * 100:.2f}%"
    if info.kind == "ratio":
        return f"{float(value):.2f}"
    if info.kind == "count":
        return f"{int(value):,}"
    if info.kind == "usd":
        return _usd(value)
    return _money(value)


def format_difference(info: MetricInfo, value: float | None) -> str:
    """A difference of a metric: percentage points for percentages, signed otherwise."""
    if value is None:
        return _NOT_DEFINED
    if info.kind == "percent":
        return f"{value * 100:+.2f} pp"
    if info.kind == "count":
        return f"{round(value):+,}"
    if info.kind == "usd" and 0 < abs(value) < 1:
        return f"{value:+,.4f}"
    return f"{value:+,.2f}"


# --- HTML pieces -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Cell:
    """A table cell: plain text (escaped when written) with an optional class."""

    text: str
    css: str = ""


CellValue = str | _Cell


@dataclass(frozen=True)
class _Column:
    """A table column: its header, and whether it holds numbers (right-aligned) or must not wrap."""

    header: str
    numeric: bool = False
    nowrap: bool = False

    @property
    def css(self) -> str:
        return " ".join(name for name, wanted in (("num", self.numeric), ("nowrap", self.nowrap)) if wanted)


def _table(columns: Sequence[_Column], rows: Iterable[Sequence[CellValue]]) -> str:
    head = "".join(f'<th scope="col"{_class(column.css)}>{_e(column.header)}</th>' for column in columns)
    body = "\n".join(
        "<tr>" + "".join(_td(cell, column) for column, cell in zip(columns, row, strict=True)) + "</tr>" for row in rows
    )
    return f'<div class="scroll"><table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody></table></div>'


def _td(cell: CellValue, column: _Column) -> str:
    text, css = (cell.text, cell.css) if isinstance(cell, _Cell) else (cell, "")
    return f"<td{_class(' '.join(part for part in (css, column.css) if part))}>{_e(text)}</td>"


def _class(classes: str) -> str:
    return f' class="{classes}"' if classes else ""


def _signed(amount: Decimal | None) -> _Cell:
    css = "" if amount is None or amount == 0 else ("pos" if amount > 0 else "neg")
    return _Cell(_money(amount), css)


def _facts(pairs: Sequence[tuple[str, str]]) -> str:
    items = "".join(f"<dt>{_e(name)}</dt><dd>{_e(value)}</dd>" for name, value in pairs)
    return f'<dl class="facts">{items}</dl>'


def _section(title: str, body: str, *, note: str = "") -> str:
    paragraph = f'<p class="muted">{_e(note)}</p>' if note else ""
    return f"<section>\n<h2>{_e(title)}</h2>\n{paragraph}\n{body}\n</section>"


# --- sections --------------------------------------------------------------------------------------


def _header(summary: BacktestSummary, result: BacktestResult) -> str:
    request, progress, costs = summary.request, summary.progress, summary.request.costs
    variants = ", ".join(variant_name(variant.variant) for variant in result.variants) or "none"
    subtitle = (
        f"{summary.strategy_name}, {_when(request.start)} to {_when(request.end)} UTC, deciding "
        f"at {cadence_text(summary)}; variants: {variants}"
    )
    decisions = (
        f"{progress.decisions_done:,} of {progress.decisions_total:,} done, {progress.decisions_failed:,} failed"
    )
    answers = (
        f"{progress.cache_hits:,} from the cache, {progress.cache_misses:,} asked; cost {_usd(progress.cost_usd)} USD"
    )
    simulated = (
        f"slippage {_plain(costs.slippage_bps)} bps, commission {_plain(costs.commission_rate * 100)}% "
        f"(at least {_money(costs.commission_minimum)})"
    )
    status = summary.status if summary.reason is None else f"{summary.status}: {summary.reason}"
    facts = _facts(
        [
            ("Decisions", decisions),
            ("Model answers", answers),
            ("Simulated costs", simulated),
            ("Status", status),
            ("Run", f"created {_when(summary.created_at)}, finished {_when(summary.finished_at)}"),
        ]
    )
    return (
        f'<header>\n<h1>Backtest: {_e(summary.name)}</h1>\n<p class="subtitle">{_e(subtitle)}</p>\n{facts}\n</header>'
    )


def _columns(result: BacktestResult) -> list[tuple[str, BacktestMetrics]]:
    """The variants, the offline analyst after them, then buy-and-hold."""
    ordered = sorted(result.variants, key=lambda variant: variant.variant == OFFLINE_VARIANT)
    return [*((variant_name(v.variant), v.metrics) for v in ordered), (BUY_AND_HOLD, result.buy_and_hold)]


def _metrics_section(result: BacktestResult) -> str:
    columns = _columns(result)
    rows = (
        [info.label, *(format_metric(info, getattr(metrics, info.name)) for _, metrics in columns)] for info in METRICS
    )
    note = "Ratios are annualised with a risk-free rate of 0; n/a where a metric is undefined."
    header = [_Column("Metric", nowrap=True), *(_Column(name, numeric=True) for name, _ in columns)]
    return _section("Metrics", _table(header, rows), note=note)


def _compared(result: BacktestResult) -> tuple[str, str]:
    return compared_labels(result) or ("first", "second")


def _finding(difference: MetricDifference, first: str, second: str) -> str:
    """What the interval says, in a few plain words."""
    found = verdict(difference)
    if found == "second_better":
        return f"{second} is better"
    if found == "first_better":
        return f"{first} is better"
    if found == "could_be_luck":
        return COULD_BE_CHANCE
    return ""


def _comparison_section(result: BacktestResult) -> str:
    if not result.comparison:
        return ""
    first, second = _compared(result)
    rows = (_comparison_row(difference, first, second) for difference in result.comparison)
    columns = [
        _Column("Metric", nowrap=True),
        _Column(first, numeric=True),
        _Column(second, numeric=True),
        _Column("Difference", numeric=True),
        _Column("95% interval", numeric=True),
        _Column("Finding"),
    ]
    table = _table(columns, rows)
    headline = _headline(result.comparison, first, second)
    note = (
        f"Each difference is {second} minus {first} on the same decisions. The interval is a paired block "
        "bootstrap of the bars (of the decisions for directional accuracy): where it excludes 0 one variant is "
        f"better; where it includes 0 the difference {COULD_BE_CHANCE}."
    )
    return _section("A/B comparison", f'<p class="headline">{_e(headline)}</p>\n{table}', note=note)


def _comparison_row(difference: MetricDifference, first: str, second: str) -> list[CellValue]:
    info = METRIC_INFO.get(difference.metric, MetricInfo(difference.metric, difference.metric, "ratio", None))
    interval = (
        ""
        if difference.low is None or difference.high is None
        else f"[{format_difference(info, difference.low)}, {format_difference(info, difference.high)}]"
    )
    found = verdict(difference) if difference.metric in METRIC_INFO else "not_tested"
    return [
        info.label,
        format_metric(info, difference.first),
        format_metric(info, difference.second),
        format_difference(info, difference.difference),
        interval,
        _Cell(_finding(difference, first, second), "luck" if found == "could_be_luck" else ""),
    ]


def _headline(differences: Sequence[MetricDifference], first: str, second: str) -> str:
    by_metric = {difference.metric: difference for difference in differences}
    said = [
        f"{METRIC_INFO[name].label}: {_finding(by_metric[name], first, second)}"
        f"{'' if verdict(by_metric[name]) == 'could_be_luck' else ' (the 95% interval excludes 0)'}."
        for name in ("total_return", "sharpe")
        if name in by_metric and _finding(by_metric[name], first, second)
    ]
    if not said:
        return f"Too few bars to tell whether {second} is better than {first}."
    return f"Is {second} better than {first}? " + " ".join(said)


def _charts_section(
    summary: BacktestSummary, result: BacktestResult, bars: Sequence[Bar], buy_and_hold_equity: Sequence[EquityPoint]
) -> str:
    curves = _curves(result, buy_and_hold_equity)
    period = [bar for bar in bars if summary.request.start <= bar.time <= summary.request.end]
    prices = [_price_chart(period, variant) for variant in _asked(result)] or [_price_chart(period, None)]
    charts = (
        _chart("Equity", curves, axis=_axis_number),
        _chart("Drawdown", [_drawdown_series(curve) for curve in curves], axis=_axis_percent),
        *prices,
    )
    return _section("Charts", "\n".join(charts))


def _asked(result: BacktestResult) -> list[VariantResult]:
    """The variants the request asked for, in the result's order (the order asked), without the offline baseline:
    the report shows each one's trades on the price and its best and worst decisions."""
    return [variant for variant in result.variants if variant.variant != OFFLINE_VARIANT]


def _curves(result: BacktestResult, buy_and_hold_equity: Sequence[EquityPoint]) -> list[_Series]:
    ordered = sorted(result.variants, key=lambda variant: variant.variant == OFFLINE_VARIANT)
    colours = iter(_PALETTE * (1 + len(ordered) // len(_PALETTE)))
    series = [
        _Series(
            variant_name(variant.variant),
            _OFFLINE_COLOR if variant.variant == OFFLINE_VARIANT else next(colours),
            tuple((point.time, float(point.equity)) for point in variant.equity),
        )
        for variant in ordered
    ]
    hold = tuple((point.time, float(point.equity)) for point in buy_and_hold_equity)
    return [*series, _Series(BUY_AND_HOLD, _HOLD_COLOR, hold, dashed=True)]


def _drawdown_series(curve: _Series) -> _Series:
    """The curve's fall below its running peak, as a negative fraction (a curve from zero equity draws none)."""
    if not curve.points or curve.points[0][1] <= 0:
        return replace(curve, points=())
    fallen = drawdowns(np.array([[value for _, value in curve.points]]))[0]
    return replace(
        curve, points=tuple((time, -float(depth)) for (time, _), depth in zip(curve.points, fallen, strict=True))
    )


def _price_chart(bars: Sequence[Bar], variant: VariantResult | None) -> str:
    close = _Series("close", _HOLD_COLOR, tuple((bar.time, bar.close) for bar in bars))
    trades = variant.trades if variant is not None else ()
    markers = [marker for trade in trades for marker in _trade_markers(trade)]
    title = "Price" if variant is None else f"Price, with the trades of {variant_name(variant.variant)}"
    keys = (_LONG_ENTRY, _SHORT_ENTRY, _EXIT) if trades else ()
    return _chart(title, [close], axis=_axis_number, markers=markers, marker_keys=keys)


def _trade_markers(trade: SimulatedTrade) -> list[_Marker]:
    long = trade.side == "long"
    entry_title = f"{trade.side} {_plain(trade.quantity)} at {_price(trade.entry_price)}, {_when(trade.entry_at)}"
    entry_shape = _LONG_ENTRY if long else _SHORT_ENTRY
    entry = _Marker(trade.entry_at, float(trade.entry_price), replace(entry_shape, title=entry_title))
    if trade.exit_at is None or trade.exit_price is None:
        return [entry]
    exit_title = (
        f"exit ({(trade.exit_reason or 'closed').replace('_', ' ')}) at {_price(trade.exit_price)}, "
        f"{_when(trade.exit_at)}; P&L {_money(trade.pnl)}"
    )
    exit_shape = replace(_EXIT, pointing="down" if long else "up", title=exit_title)
    return [entry, _Marker(trade.exit_at, float(trade.exit_price), exit_shape, gap=_TRIANGLE + 2)]


def _trades_section(result: BacktestResult) -> str:
    trades = [(variant.variant, trade) for variant in result.variants for trade in variant.trades]
    if not trades:
        return _section("Trades", '<p class="muted">No trade was made.</p>')
    columns = [
        _Column("Variant", nowrap=True),
        _Column("Decision", numeric=True),
        _Column("Side"),
        _Column("Quantity", numeric=True),
        _Column("Entry", nowrap=True),
        _Column("Entry price", numeric=True),
        _Column("Exit", nowrap=True),
        _Column("Exit price", numeric=True),
        _Column("Reason", nowrap=True),
        _Column("P&L", numeric=True),
        _Column("Fees", numeric=True),
    ]
    rows = (_trade_row(label, trade) for label, trade in trades)
    return _section("Trades", _table(columns, rows), note=f"{len(trades):,} trades.")


def _trade_row(label: str, trade: SimulatedTrade) -> list[CellValue]:
    return [
        variant_name(label),
        str(trade.decision_seq),
        trade.side,
        _plain(trade.quantity),
        _when(trade.entry_at),
        _price(trade.entry_price),
        _when(trade.exit_at) if trade.exit_at else "open",
        _price(trade.exit_price) if trade.exit_price is not None else _NOT_DEFINED,
        (trade.exit_reason or "").replace("_", " "),
        _signed(trade.pnl),
        _money(trade.fees),
    ]


def _highlights_sections(result: BacktestResult, highlights: Sequence[Highlight]) -> list[str]:
    """One section of best and worst decisions; one per variant, titled with its label, when two are compared
    (saying so when a variant made no trade, so nothing of it is highlighted)."""
    asked = _asked(result)
    if len(asked) < 2:
        return [_highlights_section("Best and worst decisions", highlights)] if highlights else []
    sections = []
    for variant in asked:
        name = variant_name(variant.variant)
        own = [highlight for highlight in highlights if highlight.variant == variant.variant]
        empty = f"{name} made no trade, so no decision of it is highlighted."
        sections.append(_highlights_section(f"Best and worst decisions of {name}", own, empty=empty))
    return sections


def _highlights_section(title: str, highlights: Sequence[Highlight], *, empty: str = "") -> str:
    if not highlights:
        return _section(title, f'<p class="muted">{_e(empty)}</p>')
    cards = "\n".join(_highlight(highlight) for highlight in highlights)
    return _section(title, f'<div class="highlights">\n{cards}\n</div>')


def _highlight(highlight: Highlight) -> str:
    decision = highlight.decision
    title = f"{highlight.label.capitalize()} decision of {variant_name(highlight.variant)}"
    facts = _facts(
        [
            ("Decided at", f"{_when(decision.decided_at)} UTC (decision {decision.seq})"),
            ("Action", decision.action or _NOT_DEFINED),
            ("Bias", f"{decision.bias or _NOT_DEFINED}, confidence {_optional_int(decision.confidence)}"),
            ("Trade P&L", _money(highlight.trade_pnl) if highlight.trade_pnl is not None else "no trade"),
            ("Model", _answered(decision)),
        ]
    )
    image = (
        f'<img src="data:image/png;base64,{base64.b64encode(highlight.chart_png).decode("ascii")}" '
        f'alt="{_e(f"the chart the analyst read for decision {decision.seq}")}">'
        if highlight.chart_png
        else '<p class="muted">No chart was kept for this decision.</p>'
    )
    answer = (
        f'<p class="muted">The answer:</p>\n<pre class="answer">{_e(highlight.answer)}</pre>'
        if highlight.answer
        else ""
    )
    return f'<article class="card {highlight.label}">\n<h3>{_e(title)}</h3>\n{facts}\n{image}\n{answer}\n</article>'


def _answered(decision: BacktestDecisionRecord) -> str:
    if decision.cache_misses:
        source = "asked the model"
    elif decision.cache_hits:
        source = "answered from the cache"
    else:
        source = "no model call"
    return source if decision.cost_usd is None else f"{source}, cost {_usd(decision.cost_usd)} USD"


def _optional_int(value: int | None) -> str:
    return _NOT_DEFINED if value is None else str(value)


def _decision_log(decisions: Sequence[BacktestDecisionRecord]) -> str:
    columns = [
        _Column("Time", nowrap=True),
        _Column("Variant", nowrap=True),
        _Column("Decision", numeric=True),
        _Column("Status"),
        _Column("Action"),
        _Column("Bias"),
        _Column("Confidence", numeric=True),
        _Column("Rule or error"),
        _Column("Cost (USD)", numeric=True),
        _Column("Cache hit/miss", numeric=True),
    ]
    ordered = sorted(decisions, key=lambda decision: (decision.decided_at, decision.variant))
    rows = (_decision_row(decision) for decision in ordered)
    table = _table(columns, rows)
    summary = f"Decision log ({len(decisions):,} decisions)"
    return f"<section>\n<details>\n<summary>{_e(summary)}</summary>\n{table}\n</details>\n</section>"


def _decision_row(decision: BacktestDecisionRecord) -> list[CellValue]:
    return [
        _when(decision.decided_at),
        variant_name(decision.variant),
        str(decision.seq),
        _Cell(decision.status, "neg" if decision.status == "failed" else ""),
        decision.action or "",
        decision.bias or "",
        _optional_int(decision.confidence),
        decision.error or decision.rejected_rule or decision.held_because or "",
        _usd(decision.cost_usd) if decision.cost_usd is not None else "",
        f"{decision.cache_hits}/{decision.cache_misses}",
    ]


# --- SVG charts ------------------------------------------------------------------------------------

_WIDTH: Final = 960
_HEIGHT: Final = 300
_LEFT: Final = 76
_RIGHT: Final = 16
_TOP: Final = 36
"""Room for the legend."""
_BOTTOM: Final = 26
"""Room for the time labels."""
_EMPTY_HEIGHT: Final = 60
"""A chart with nothing to draw keeps its place, in a strip."""
_VALUE_TICKS: Final = 5
_TIME_TICKS: Final = 6
_MOST_POINTS: Final = 2000
"""Points drawn per line at most; longer curves keep each stretch's lowest and highest point."""
_LEGEND_CHARS: Final = 40
_TRIANGLE: Final = 10.0
"""Height of a trade marker in user units."""


@dataclass(frozen=True)
class _Series:
    label: str
    color: str
    points: tuple[tuple[datetime, float], ...]
    dashed: bool = False


@dataclass(frozen=True)
class _Shape:
    """A triangle pointing up or down, filled or hollow, with what it means."""

    pointing: Literal["up", "down"]
    color: str
    filled: bool
    title: str


@dataclass(frozen=True)
class _Marker:
    """A triangle whose tip points at ``value``, ``gap`` user units away (exits stand further off than entries)."""

    time: datetime
    value: float
    shape: _Shape
    gap: float = 1.0


_LONG_ENTRY: Final = _Shape("up", _LONG_COLOR, True, "long entry")
_SHORT_ENTRY: Final = _Shape("down", _SHORT_COLOR, True, "short entry")
_EXIT: Final = _Shape("down", _EXIT_COLOR, False, "exit")


Axis = Callable[[float, float], str]
"""A value axis label from the value and the tick step."""


class _Frame:
    """Maps times and values to the chart's user units; time runs by bar, so nights and weekends take no room."""

    def __init__(self, times: Sequence[datetime], low: float, high: float) -> None:
        self.times = times
        self.low, self.high = low, high
        self._stamps = [moment.timestamp() for moment in times]

    def x(self, moment: datetime) -> float:
        span = max(len(self.times) - 1, 1)
        return round(_LEFT + self._position(moment.timestamp()) / span * (_WIDTH - _LEFT - _RIGHT), 1)

    def y(self, value: float) -> float:
        fraction = (value - self.low) / (self.high - self.low)
        return round(_HEIGHT - _BOTTOM - fraction * (_HEIGHT - _TOP - _BOTTOM), 1)

    def _position(self, stamp: float) -> float:
        """The bar index of a time, between two bars' indices for a time between them."""
        stamps = self._stamps
        index = bisect.bisect_left(stamps, stamp)
        if index >= len(stamps):
            return float(len(stamps) - 1)
        if index == 0 or stamps[index] == stamp:
            return float(index)
        before, after = stamps[index - 1], stamps[index]
        return index - 1 + (stamp - before) / (after - before)


def _chart(
    title: str,
    series: Sequence[_Series],
    *,
    axis: Axis,
    markers: Sequence[_Marker] = (),
    marker_keys: Sequence[_Shape] = (),
) -> str:
    """One chart: a figure with its caption and one ``<svg>``."""
    times = sorted({moment for line in series for moment, _ in line.points})
    values = [value for line in series for _, value in line.points] + [marker.value for marker in markers]
    height = _HEIGHT if times else _EMPTY_HEIGHT
    if not times:
        body = f'<text x="{_WIDTH / 2}" y="{height / 2 + 4}" text-anchor="middle">nothing to draw</text>'
    else:
        low, high, step = _value_range(values)
        frame = _Frame(times, low, high)
        body = "\n".join(
            [
                _grid(frame, step, axis),
                *(_polyline(frame, line) for line in series),
                *(_marker(frame, marker) for marker in markers),
                _legend(series, marker_keys),
            ]
        )
    return (
        f"<figure>\n<figcaption>{_e(title)}</figcaption>\n"
        f'<svg viewBox="0 0 {_WIDTH} {height}" role="img" aria-label="{_e(title)}">\n{body}\n</svg>\n</figure>'
    )


def _grid(frame: _Frame, step: float, axis: Axis) -> str:
    lines: list[str] = []
    count = round((frame.high - frame.low) / step)
    for index in range(count + 1):
        value = frame.low + index * step
        y = frame.y(value)
        lines.append(f'<line x1="{_LEFT}" x2="{_WIDTH - _RIGHT}" y1="{y}" y2="{y}" class="grid"/>')
        lines.append(f'<text x="{_LEFT - 6}" y="{y + 4}" text-anchor="end">{_e(axis(value, step))}</text>')
    times = frame.times
    span = times[-1] - times[0]
    label = "%Y-%m-%d" if span.days >= 3 else "%m-%d %H:%M"
    picks = sorted({round(index * (len(times) - 1) / (_TIME_TICKS - 1)) for index in range(_TIME_TICKS)})
    for pick in picks:
        x = frame.x(times[pick])
        anchor = "start" if pick == 0 else "end" if pick == len(times) - 1 else "middle"
        text = times[pick].astimezone(UTC).strftime(label)
        lines.append(f'<text x="{x}" y="{_HEIGHT - 8}" text-anchor="{anchor}">{_e(text)}</text>')
    return "\n".join(lines)


def _polyline(frame: _Frame, line: _Series) -> str:
    points = " ".join(f"{frame.x(moment)},{frame.y(value)}" for moment, value in _thin(line.points))
    dash = ' stroke-dasharray="6 4"' if line.dashed else ""
    return f'<polyline points="{points}" fill="none" stroke="{line.color}" stroke-width="1.6"{dash}/>'


def _marker(frame: _Frame, marker: _Marker) -> str:
    """An up triangle below its price, a down triangle above it, the tip toward the price."""
    y = frame.y(marker.value)
    tip = y + marker.gap if marker.shape.pointing == "up" else y - marker.gap
    return _triangle(frame.x(marker.time), tip, marker.shape)


def _triangle(x: float, tip: float, shape: _Shape) -> str:
    base = tip + _TRIANGLE if shape.pointing == "up" else tip - _TRIANGLE
    half = _TRIANGLE * 0.6
    points = f"{x},{round(tip, 1)} {round(x - half, 1)},{round(base, 1)} {round(x + half, 1)},{round(base, 1)}"
    fill = shape.color if shape.filled else "#fff"
    return (
        f'<polygon points="{points}" fill="{fill}" stroke="{shape.color}" stroke-width="1.4">'
        f"<title>{_e(shape.title)}</title></polygon>"
    )


def _legend(series: Sequence[_Series], marker_keys: Sequence[_Shape]) -> str:
    items: list[str] = []
    x = float(_LEFT)
    for line in series:
        text = _shortened(line.label)
        dash = ' stroke-dasharray="6 4"' if line.dashed else ""
        items.append(f'<line x1="{x}" x2="{x + 22}" y1="16" y2="16" stroke="{line.color}" stroke-width="2.5"{dash}/>')
        items.append(f'<text x="{x + 28}" y="20">{_e(text)}</text>')
        x += 44 + 7 * len(text)
    for key in marker_keys:
        tip = 16 - _TRIANGLE / 2 if key.pointing == "up" else 16 + _TRIANGLE / 2
        items.append(_triangle(x + 6, tip, key))
        items.append(f'<text x="{x + 16}" y="20">{_e(key.title)}</text>')
        x += 30 + 7 * len(key.title)
    return f'<g class="legend">{"".join(items)}</g>'


def _shortened(label: str) -> str:
    return label if len(label) <= _LEGEND_CHARS else label[: _LEGEND_CHARS - 1] + "…"


def _thin(points: Sequence[tuple[datetime, float]]) -> Sequence[tuple[datetime, float]]:
    """At most about ``_MOST_POINTS`` points: each stretch's lowest and highest, in time order, and the last."""
    if len(points) <= _MOST_POINTS:
        return points
    stretch = math.ceil(len(points) / (_MOST_POINTS // 2))
    kept: list[tuple[datetime, float]] = []
    for start in range(0, len(points), stretch):
        chunk = points[start : start + stretch]
        lowest = min(range(len(chunk)), key=lambda index: chunk[index][1])
        highest = max(range(len(chunk)), key=lambda index: chunk[index][1])
        kept.extend(chunk[index] for index in sorted({lowest, highest}))
    if kept[-1] != points[-1]:
        kept.append(points[-1])
    return kept


def _value_range(values: Sequence[float]) -> tuple[float, float, float]:
    """Bounds on round ticks that hold every value, and the tick step; a flat line gets room around it."""
    low, high = min(values), max(values)
    if high - low < max(abs(high) * 1e-9, 1e-12):
        pad = max(abs(high) * 0.01, 0.01)
        low, high = low - pad, high + pad
    return value_axis(low, high, _VALUE_TICKS)


def _axis_number(value: float, step: float) -> str:
    return f"{value:,.{step_decimals(step)}f}"


def _axis_percent(value: float, step: float) -> str:
    return f"{value * 100:.{max(0, step_decimals(step) - 2)}f}%"


# --- the document ----------------------------------------------------------------------------------

_POLICY: Final = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

_STYLE: Final = """
:root { --fg: #1d2330; --muted: #5d6678; --bg: #f4f6f9; --card: #fff; --line: #d9dee7;
  --ok: #1e7a3c; --danger: #b3261e; --accent: #1f5fbf;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
body { margin: 0; line-height: 1.45; }
main { max-width: 1100px; margin: 0 auto; padding: 1rem 1.25rem 3rem; }
h1 { font-size: 1.5rem; margin: 0.5rem 0 0.75rem; word-break: break-word; }
h2 { font-size: 1.15rem; margin: 0 0 0.5rem; }
h3 { font-size: 1rem; margin: 0 0 0.5rem; }
header, section { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 1rem;
  margin-bottom: 1rem; }
.muted { color: var(--muted); font-size: 0.9rem; }
.subtitle { margin: 0 0 0.75rem; color: var(--muted); }
.headline { font-weight: 600; }
.facts { display: grid; grid-template-columns: max-content 1fr; gap: 0.2rem 1rem; margin: 0; }
.facts dt { color: var(--muted); }
.facts dd { margin: 0; word-break: break-word; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: 0.9rem; }
th, td { text-align: left; padding: 0.35rem 0.5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { color: var(--muted); font-weight: 600; }
th.num, td.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
th.nowrap, td.nowrap { white-space: nowrap; }
td.pos { color: var(--ok); }
td.neg { color: var(--danger); }
td.luck { color: var(--muted); }
figure { margin: 0 0 1.25rem; }
figcaption { font-weight: 600; margin-bottom: 0.25rem; }
svg { width: 100%; height: auto; display: block; }
svg text { font-size: 12px; fill: var(--muted); }
svg .legend text { fill: var(--fg); }
svg .grid { stroke: var(--line); stroke-width: 1; }
.highlights { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 1rem; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 0.75rem; border-top: 4px solid var(--muted); }
.card.best { border-top-color: var(--ok); }
.card.worst { border-top-color: var(--danger); }
.card img { max-width: 100%; margin: 0.75rem 0; border: 1px solid var(--line); }
pre.answer { white-space: pre-wrap; word-break: break-word; background: var(--bg); padding: 0.6rem;
  border-radius: 4px; font-size: 0.85rem; max-height: 24rem; overflow: auto; }
details summary { cursor: pointer; font-weight: 600; font-size: 1.15rem; }
details table { margin-top: 0.75rem; }
"""


def _document(title: str, body: str) -> str:
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{_POLICY}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(title)}</title>\n<style>{_STYLE}</style>\n</head>\n"
        f"<body>\n<main>\n{body}\n</main>\n</body>\n</html>\n"
    )
