"""A backtest as people write and read it: compared variants as typed, and the results as tables.

The CLI (``tradelane backtest --compare prompt_version=2,3``) and the web UI's form spell an
A/B comparison the same way, and both show a result's metrics side by side (each variant, the
offline baseline and buy-and-hold) and the comparison with its intervals, from these rules, and
say how long a running one has left. The CLI, the web UI and the report say when a backtest decides
(its cadence) in the same words too.
The value axis of an SVG chart (the backtest report's, the portfolio page's equity curve) is
cut into round ticks here too.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Final, Literal

from tradelane.contracts.backtest import (
    BAR_CADENCE,
    CRON_CADENCE,
    OFFLINE_VARIANT,
    BacktestMetrics,
    BacktestResult,
    BacktestSummary,
    MetricDifference,
    VariantOverrides,
)

COMPARED_FIELDS: Final = ("prompt_version", "model", "analyst")
"""What an A/B comparison may vary (one of them, with two values)."""
BUY_AND_HOLD: Final = "buy-and-hold"
COULD_BE_CHANCE: Final = "could be chance"
"""What a comparison says of a difference whose 95 % interval includes zero, in the CLI, the web UI and the report."""

MetricKind = Literal["percent", "ratio", "count", "money", "cost"]

METRICS: Final[tuple[tuple[str, str, MetricKind], ...]] = (
    ("total_return", "Total return", "percent"),
    ("annual_return", "Annual return", "percent"),
    ("sharpe", "Sharpe", "ratio"),
    ("sortino", "Sortino", "ratio"),
    ("max_drawdown", "Max drawdown", "percent"),
    ("calmar", "Calmar", "ratio"),
    ("hit_rate", "Hit rate", "percent"),
    ("profit_factor", "Profit factor", "ratio"),
    ("exposure", "Exposure", "percent"),
    ("trades", "Trades", "count"),
    ("directional_accuracy", "Directional accuracy", "percent"),
    ("fees", "Fees", "money"),
    ("model_cost", "Model cost (USD)", "cost"),
)
"""Each metric of :class:`BacktestMetrics` in the order shown: (field, label, how it is written)."""
_KINDS: Final = {name: kind for name, _, kind in METRICS}
_LABELS: Final = {name: label for name, label, _ in METRICS}


def cadence_text(summary: BacktestSummary) -> str:
    """When ``summary``'s backtest decides, in words: ``every bar's close``, ``cron 0 16 * * 1-5 (America/New_York),
    the strategy's schedule``, or ``cron 30 15 * * 1-5 (America/New_York)`` for a cron expression of its own.

    The planner reads a cron expression cadence in the strategy's time zone, as it does the strategy's own cron;
    without the summary's schedule (None) the expression or time zone it does not know is said in words.
    """
    cadence, schedule = summary.request.cadence, summary.schedule
    if cadence == BAR_CADENCE:
        return "every bar's close"
    if cadence == CRON_CADENCE:
        if schedule is None:
            return "cron, the strategy's schedule"
        return f"cron {schedule.cron} ({schedule.timezone}), the strategy's schedule"
    zone = "the strategy's time zone" if schedule is None else schedule.timezone
    return f"cron {cadence} ({zone})"


def compared_variants(spec: str, base: VariantOverrides | None = None) -> tuple[VariantOverrides, VariantOverrides]:
    """The two variants of ``FIELD=A,B`` (``prompt_version=2,3``, ``model=a,b``), each ``base`` with that field set.

    A ValueError says what is wrong with ``spec`` (a pydantic ValidationError, one of them, names a bad value).
    """
    field, separator, listed = spec.partition("=")
    field = field.strip()
    if not separator or field not in COMPARED_FIELDS:
        msg = f"compare one of {', '.join(COMPARED_FIELDS)} as FIELD=A,B (e.g. prompt_version=2,3), not {spec!r}"
        raise ValueError(msg)
    values = [value.strip() for value in listed.split(",") if value.strip()]
    if len(values) != 2:
        msg = f"compare exactly two values of {field}, separated by a comma (e.g. {field}=A,B), not {listed!r}"
        raise ValueError(msg)
    kept = (base or VariantOverrides()).model_dump(exclude_none=True)
    first, second = (VariantOverrides.model_validate({**kept, field: value}) for value in values)
    return first, second


def seconds_left(total: int, finished: int, watched_from: tuple[float, int], now: float) -> float | None:
    """How long the decisions still to do take at the pace seen since ``watched_from`` (a time in seconds and
    the decisions finished by then) until ``now``: 0 once none is left, None while no pace has been seen.

    The CLI's progress line and the web UI's backtest page say the time left from this.
    """
    left = total - finished
    if left <= 0:
        return 0.0
    since, finished_then = watched_from
    if now <= since or finished <= finished_then:
        return None
    return left * (now - since) / (finished - finished_then)


def formatted(kind: MetricKind, value: float | Decimal | int | None) -> str:
    """A metric's value as shown: ``12.3 %``, ``1.42``, ``7``, ``1,234.50``, ``0.0123``; ``—`` when it has none."""
    if value is None:
        return "—"
    match kind:
        case "percent":
            return f"{100 * float(value):.1f} %"
        case "count":
            return f"{int(value):,}"
        case "money":
            return f"{Decimal(value).quantize(Decimal('0.01'), rounding=ROUND_HALF_EVEN):,}"
        case "cost":
            return f"{Decimal(value).quantize(Decimal('0.0001'), rounding=ROUND_HALF_EVEN):,}"
        case _:
            return f"{float(value):.2f}"


def _difference(kind: MetricKind, value: float | None) -> str:
    """A difference of two values of a metric; percentages differ in percentage points."""
    if value is None:
        return "—"
    if kind == "percent":
        return f"{100 * value:+.1f} pp"
    if kind == "count":
        return f"{value:+.0f}"
    return f"{value:+.4f}" if kind == "cost" else f"{value:+.2f}"


def metrics_table(result: BacktestResult) -> tuple[list[str], list[list[str]]]:
    """Headers (``Metric``, each variant, ``buy-and-hold``) and one row per metric, written as shown."""
    columns: list[tuple[str, BacktestMetrics]] = [(variant.variant, variant.metrics) for variant in result.variants]
    columns.append((BUY_AND_HOLD, result.buy_and_hold))
    rows = [
        [label, *(formatted(kind, getattr(metrics, name)) for _, metrics in columns)] for name, label, kind in METRICS
    ]
    return ["Metric", *(name for name, _ in columns)], rows


def _verdict(difference: MetricDifference) -> str:
    if difference.low is None or difference.high is None:
        return "no interval"
    if difference.low > 0 or difference.high < 0:
        return "differs"
    return COULD_BE_CHANCE


def compared_labels(result: BacktestResult) -> tuple[str, str] | None:
    """The two variants ``result`` compares, first then second (its differences are second minus first): its variants
    but the offline baseline, in its order; None when it compares none.

    The result's order, not the request's: a result stored before the backtester took the variants in the order
    asked may have compared them the other way round, and is labelled as it was compared.
    """
    labels = [variant.variant for variant in result.variants if variant.variant != OFFLINE_VARIANT]
    return (labels[0], labels[1]) if result.comparison and len(labels) == 2 else None


def comparison_table(
    comparison: Sequence[MetricDifference], first: str, second: str
) -> tuple[list[str], list[list[str]]]:
    """Headers and one row per compared metric: both values, second minus first, its 95 % interval and a verdict.

    The verdict is "differs" when the interval leaves out zero, else "could be chance".
    """
    rows = []
    for item in comparison:
        kind = _KINDS.get(item.metric, "ratio")
        interval = f"[{_difference(kind, item.low)}, {_difference(kind, item.high)}]"
        rows.append(
            [
                _LABELS.get(item.metric, item.metric),
                formatted(kind, item.first),
                formatted(kind, item.second),
                _difference(kind, item.difference),
                interval,
                _verdict(item),
            ]
        )
    headers = ["Metric", first, second, f"{second} - {first}", "95 % interval", "Verdict"]
    return headers, rows


def nice_step(span: float, count: int) -> float:
    """A round step (1, 2 or 5 times a power of ten) that cuts ``span`` into at most ``count`` parts."""
    raw = span / count
    power = 10.0 ** math.floor(math.log10(raw))
    return next(factor * power for factor in (1, 2, 5, 10) if factor * power >= raw)


def value_axis(low: float, high: float, ticks: int) -> tuple[float, float, float]:
    """Bounds on round ticks that hold ``low`` to ``high`` with at most ``ticks`` ticks, and the tick step.

    ``high`` must exceed ``low``: a caller gives a flat line room around it first.
    """
    step = nice_step(high - low, ticks - 1)
    return math.floor(low / step) * step, math.ceil(high / step) * step, step


def step_decimals(step: float) -> int:
    """Decimals that tell ticks ``step`` apart: none for steps of 1 and more."""
    return max(0, -math.floor(math.log10(step)))
