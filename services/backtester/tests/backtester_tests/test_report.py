"""The HTML report: one well-formed, self-contained document with every untrusted text escaped."""

from __future__ import annotations

import random
import re
import struct
import uuid
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import ROUND_FLOOR, Decimal
from html.parser import HTMLParser

import pytest

from tradelane.backtester.comparison import compare
from tradelane.backtester.metrics import METRIC_INFO, Direction, buy_and_hold, variant_metrics
from tradelane.backtester.report import Highlight, format_difference, format_metric, render_report
from tradelane.contracts.backtest import (
    BacktestDecisionRecord,
    BacktestEstimate,
    BacktestMetrics,
    BacktestProgress,
    BacktestRequest,
    BacktestResult,
    BacktestSummary,
    EquityPoint,
    MetricDifference,
    SimulatedTrade,
    VariantOverrides,
    VariantResult,
)
from tradelane.contracts.backtest_display import COULD_BE_CHANCE
from tradelane.contracts.events import Bias
from tradelane.contracts.market import Bar
from tradelane.contracts.strategy import Schedule
from tradelane.trading.paper import PaperCosts

START = datetime(2024, 3, 4, tzinfo=UTC)
CASH = Decimal(10_000)
PERIODS = 252.0 * 7
BARS_PER_DAY = 7
PLANTED = "<script>alert('owned')</script>"
VOID = frozenset({"meta", "img", "br", "hr", "input", "link"})
SVG_EMPTY = frozenset({"line", "polyline", "polygon"})


def hourly_bars(days: int = 22, seed: int = 3) -> tuple[Bar, ...]:
    """Seven bars a weekday, 14:00-20:00 UTC, on a random walk from 190."""
    rng = random.Random(seed)
    bars: list[Bar] = []
    price = 190.0
    day = START
    while len(bars) < days * BARS_PER_DAY:
        if day.weekday() < 5:
            for hour in range(14, 21):
                close = round(price * (1 + rng.gauss(0.0004, 0.006)), 2)
                high, low = max(price, close) * 1.002, min(price, close) * 0.998
                bars.append(Bar(time=day.replace(hour=hour), open=price, high=high, low=low, close=close, volume=1e5))
                price = close
        day += timedelta(days=1)
    return tuple(bars)


@dataclass
class _Book:
    """A toy simulation: at each day's last bar, close what is held and follow the bias at the next open."""

    label: str
    cash: Decimal = CASH
    quantity: Decimal = Decimal(0)
    open_trade: SimulatedTrade | None = None
    trades: list[SimulatedTrade] = field(default_factory=list)

    def close(self, bar: Bar) -> None:
        if self.open_trade is None:
            return
        price = Decimal(str(bar.open))
        entry = self.open_trade
        sign = 1 if entry.side == "long" else -1
        pnl = (price - entry.entry_price) * entry.quantity * sign - 2
        self.cash += self.quantity * price - 1
        self.trades.append(entry.model_copy(update={"exit_at": bar.time, "exit_price": price, "pnl": pnl}))
        self.quantity, self.open_trade = Decimal(0), None

    def open(self, bar: Bar, bias: Bias, seq: int) -> None:
        if bias == "neutral":
            return
        price = Decimal(str(bar.open))
        size = (self.cash / price).to_integral_value(rounding=ROUND_FLOOR)
        self.quantity = size if bias == "bullish" else -size
        self.cash -= self.quantity * price + 1
        self.open_trade = SimulatedTrade(
            decision_seq=seq,
            execution_id=uuid.uuid4(),
            side="long" if bias == "bullish" else "short",
            quantity=size,
            entry_at=bar.time,
            entry_price=price,
            exit_at=None,
            exit_price=None,
            exit_reason="target",
            pnl=Decimal(0),
            fees=Decimal(2),
        )


def simulate(
    label: str, bars: tuple[Bar, ...], skill: float
) -> tuple[VariantResult, list[Direction], list[BacktestDecisionRecord]]:
    """A variant whose bias is right with probability ``skill`` (it peeks: a test sample, not a strategy)."""
    rng = random.Random(label)
    book = _Book(label)
    equity: list[EquityPoint] = []
    directions: list[Direction] = []
    decisions: list[BacktestDecisionRecord] = []
    for index, bar in enumerate(bars):
        equity.append(EquityPoint(time=bar.time, equity=book.cash + book.quantity * Decimal(str(bar.close))))
        if index % BARS_PER_DAY != BARS_PER_DAY - 1 or index + BARS_PER_DAY >= len(bars):
            continue
        seq = len(decisions)
        ahead = bars[index + BARS_PER_DAY].close
        right: Bias = "bullish" if ahead > bar.close else "bearish"
        wrong: Bias = "bearish" if right == "bullish" else "bullish"
        bias: Bias = "neutral" if rng.random() < 0.15 else right if rng.random() < skill else wrong
        directions.append(Direction(bias, Decimal(str(bar.close)), Decimal(str(ahead))))
        decisions.append(_decision(label, seq, bar, bias))
        book.close(bars[index + 1])
        book.open(bars[index + 1], bias, seq)
    metrics = variant_metrics(
        equity,
        book.trades,
        initial_cash=CASH,
        periods_per_year=PERIODS,
        directions=directions,
        fees=sum((trade.fees for trade in book.trades), Decimal(0)),
        model_cost=Decimal("0.0123") * len(decisions) if label != "offline" else Decimal(0),
    )
    return (
        VariantResult(variant=label, metrics=metrics, trades=tuple(book.trades), equity=tuple(equity)),
        directions,
        decisions,
    )


def _decision(label: str, seq: int, bar: Bar, bias: Bias) -> BacktestDecisionRecord:
    action = {"bullish": "BUY", "bearish": "SELL", "neutral": "HOLD"}[bias]
    return BacktestDecisionRecord(
        variant=label,
        seq=seq,
        decided_at=bar.time + timedelta(hours=1),
        execution_id=uuid.uuid4(),
        status="done" if seq != 3 else "failed",
        action=action if seq != 3 else None,
        bias=bias if seq != 3 else None,
        confidence=60 + seq,
        rejected_rule="min_confidence" if bias == "neutral" else None,
        error="model answer was not JSON <oops>" if seq == 3 else None,
        cost_usd=Decimal("0.0123") if label != "offline" else None,
        cache_hits=seq % 2,
        cache_misses=1 - seq % 2,
    )


def png(width: int = 240, height: int = 120) -> bytes:
    """A small real PNG (a gradient), so a browser has something to show."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    pixels = b"".join(
        b"\x00" + b"".join(bytes((x * 255 // width, y * 255 // height, 180)) for x in range(width))
        for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(pixels)) + chunk(b"IEND", b"")


@dataclass(frozen=True)
class Sample:
    summary: BacktestSummary
    result: BacktestResult
    bars: tuple[Bar, ...]
    decisions: tuple[BacktestDecisionRecord, ...]
    highlights: tuple[Highlight, ...]
    hold_equity: tuple[EquityPoint, ...]

    def render(self) -> str:
        return render_report(
            self.summary,
            self.result,
            bars=self.bars,
            decisions=self.decisions,
            highlights=self.highlights,
            buy_and_hold_equity=self.hold_equity,
        )


def held_throughout(bars: Sequence[Bar]) -> tuple[BacktestMetrics, tuple[EquityPoint, ...]]:
    """Buy-and-hold over the sample's bars."""
    return buy_and_hold(
        bars,
        start=START,
        initial_cash=CASH,
        costs=PaperCosts(),
        tick=Decimal("0.01"),
        periods_per_year=PERIODS,
        quantity_step=Decimal(1),
    )


def sample(strategy_name: str = "AAPL hourly <b>momentum</b>") -> Sample:
    """Two prompt versions and the offline analyst over a month of hourly bars, with a planted script."""
    bars = hourly_bars()
    first, first_directions, first_decisions = simulate("prompt_version=2", bars, 0.5)
    second, second_directions, second_decisions = simulate("prompt_version=3", bars, 0.8)
    offline, _, offline_decisions = simulate("offline", bars, 0.55)
    hold, hold_equity = held_throughout(bars)
    comparison = compare(
        first,
        second,
        initial_cash=CASH,
        periods_per_year=PERIODS,
        directions=(first_directions, second_directions),
        resamples=500,
    )
    result = BacktestResult(variants=(first, second, offline), buy_and_hold=hold, comparison=comparison)
    decisions = (*first_decisions, *second_decisions, *offline_decisions)
    highlights = (*_highlights(first, "The first version's reading."), *_highlights(second))
    return Sample(_summary(strategy_name, bars, decisions), result, bars, decisions, highlights, hold_equity)


def single_sample() -> Sample:
    """One prompt version beside the offline analyst: what a backtest without a comparison reports."""
    bars = hourly_bars()
    asked, _, asked_decisions = simulate("prompt_version=2", bars, 0.7)
    offline, _, offline_decisions = simulate("offline", bars, 0.55)
    hold, hold_equity = held_throughout(bars)
    result = BacktestResult(variants=(asked, offline), buy_and_hold=hold)
    decisions = (*asked_decisions, *offline_decisions)
    summary = _summary("AAPL hourly", bars, decisions, variants=(VariantOverrides(prompt_version=2),))
    return Sample(summary, result, bars, decisions, _highlights(asked), hold_equity)


def _highlights(variant: VariantResult, reading: str = "") -> tuple[Highlight, ...]:
    ranked = sorted(variant.trades, key=lambda trade: trade.pnl)
    worst, best = ranked[0], ranked[-1]

    def decision(trade: SimulatedTrade, bias: Bias) -> BacktestDecisionRecord:
        return BacktestDecisionRecord(
            variant=variant.variant,
            seq=trade.decision_seq,
            decided_at=trade.entry_at,
            execution_id=trade.execution_id,
            status="done",
            action="BUY" if bias == "bullish" else "SELL",
            bias=bias,
            confidence=72,
        )

    best_bias: Bias = "bullish" if best.side == "long" else "bearish"
    worst_bias: Bias = "bullish" if worst.side == "long" else "bearish"
    return (
        Highlight(
            "best",
            variant.variant,
            decision(best, best_bias),
            best.pnl,
            png(),
            reading
            or "Higher lows since Tuesday and the 20-bar SMA turned up.\nEntry above 191.20, stop under the swing low.",
        ),
        Highlight(
            "worst",
            variant.variant,
            decision(worst, worst_bias),
            worst.pnl,
            None,
            f"Looks weak. {PLANTED} & <b>sell</b>",
        ),
    )


def _summary(
    name: str,
    bars: tuple[Bar, ...],
    decisions: tuple[BacktestDecisionRecord, ...],
    variants: tuple[VariantOverrides, ...] = (VariantOverrides(prompt_version=2), VariantOverrides(prompt_version=3)),
) -> BacktestSummary:
    request = BacktestRequest(
        strategy_id=uuid.uuid4(),
        start=START,
        end=bars[-1].time + timedelta(hours=1),
        cadence="0 20 * * 1-5",
        variants=variants,
        name="prompt v2 against v3, March",
    )
    done = sum(1 for decision in decisions if decision.status == "done")
    return BacktestSummary(
        id=uuid.uuid4(),
        name="prompt v2 against v3, March",
        strategy_id=request.strategy_id,
        strategy_name=name,
        request=request,
        status="completed",
        estimate=BacktestEstimate(
            decisions=len(decisions) // (len(variants) + 1),
            variants=tuple(variant.label() for variant in variants),
            model_calls=30,
            cached_decisions=12,
            cost_usd=Decimal("0.52"),
        ),
        progress=BacktestProgress(
            decisions_total=len(decisions),
            decisions_done=done,
            decisions_failed=len(decisions) - done,
            cache_hits=18,
            cache_misses=24,
            cost_usd=Decimal("0.5166"),
        ),
        created_at=START + timedelta(days=40),
        finished_at=START + timedelta(days=40, minutes=3),
        has_result=True,
        schedule=Schedule(cron="0 16 * * 1-5", timezone="America/New_York"),
    )


class _Document(HTMLParser):
    """Every start tag with its attributes, checked for balance as it parses."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.open: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in VOID:
            self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        assert self.open, f"</{tag}> closes nothing"
        assert self.open[-1] == tag, f"</{tag}> closes <{self.open[-1]}>"
        self.open.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def named(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.tags if name == tag]


def parsed(document: str) -> _Document:
    parser = _Document()
    parser.feed(document)
    parser.close()
    assert parser.open == [], f"left open: {parser.open}"
    return parser


@pytest.fixture(scope="module")
def report() -> tuple[Sample, str]:
    made = sample()
    return made, made.render()


def test_the_report_is_one_well_formed_document(report: tuple[Sample, str]) -> None:
    _, document = report
    tags = [name for name, _ in parsed(document).tags]
    assert document.startswith("<!DOCTYPE html>")
    assert tags.count("html") == 1
    assert tags.count("style") == 1


def test_the_title_says_the_cron_expression_and_the_time_zone_it_is_read_in(report: tuple[Sample, str]) -> None:
    """The sample decides on a cron expression of its own, read in the strategy's time zone."""
    _, document = report
    assert "deciding at cron 0 20 * * 1-5 (America/New_York); variants:" in document


def test_the_report_has_no_script_and_no_outside_address(report: tuple[Sample, str]) -> None:
    _, document = report
    page = parsed(document)
    assert not page.named("script")
    assert "<script" not in document.lower()
    assert "http://" not in document
    assert "https://" not in document
    assert all((attrs.get("src") or "").startswith("data:image/png;base64,") for attrs in page.named("img"))


def test_a_script_planted_in_an_answer_is_shown_as_text(report: tuple[Sample, str]) -> None:
    _, document = report
    assert "&lt;script&gt;alert(&#x27;owned&#x27;)&lt;/script&gt;" in document
    assert PLANTED in "".join(parsed(document).text)


def test_user_and_model_texts_are_escaped(report: tuple[Sample, str]) -> None:
    """The strategy's name and an error text carry markup; both appear as text, never as elements."""
    _, document = report
    page = parsed(document)
    assert not page.named("b")
    assert not page.named("oops")
    assert "AAPL hourly &lt;b&gt;momentum&lt;/b&gt;" in document


def headings(document: str, tag: str) -> list[str]:
    return re.findall(rf"<{tag}>(.*?)</{tag}>", document)


def part(document: str, opening: str, closing: str) -> str:
    """The text from ``opening`` to the first ``closing`` after it."""
    start = document.index(opening)
    return document[start : document.index(closing, start)]


def marks(trades: tuple[SimulatedTrade, ...]) -> int:
    """A triangle for each entry and each exit."""
    return len(trades) + sum(1 for trade in trades if trade.exit_at is not None)


def marked_pnls(figure: str) -> list[str]:
    """The P&L each exit marker of a chart names."""
    return sorted(re.findall(r"P&amp;L (-?[\d,]+\.\d\d)</title>", figure))


def test_each_chart_is_one_svg(report: tuple[Sample, str]) -> None:
    """Equity, drawdown, and a price chart for each of the two variants compared."""
    _, document = report
    page = parsed(document)
    assert len(page.named("svg")) == 4
    assert len(page.named("figure")) == 4
    assert all(attrs.get("viewbox") for attrs in page.named("svg"))


def test_the_equity_chart_draws_every_variant_and_buy_and_hold(report: tuple[Sample, str]) -> None:
    """Three variants and buy-and-hold: four lines in each of equity and drawdown, a close line per price chart."""
    _, document = report
    assert len(parsed(document).named("polyline")) == 4 + 4 + 2


def test_each_compared_variant_has_its_own_price_chart_with_its_trades(report: tuple[Sample, str]) -> None:
    """One price chart per compared variant, in the order asked, marking that variant's trades and no other's."""
    made, document = report
    first, second, _ = made.result.variants
    assert headings(document, "figcaption") == [
        "Equity",
        "Drawdown",
        "Price, with the trades of prompt_version=2",
        "Price, with the trades of prompt_version=3",
    ]
    for variant in (first, second):
        figure = part(document, f"<figcaption>Price, with the trades of {variant.variant}<", "</figure>")
        assert figure.count("<polygon") == marks(variant.trades) + 3  # and the legend's three keys
        exits = sorted(f"{trade.pnl:,.2f}" for trade in variant.trades if trade.exit_at is not None)
        assert marked_pnls(figure) == exits
    assert sorted(f"{trade.pnl:,.2f}" for trade in first.trades) != sorted(
        f"{trade.pnl:,.2f}" for trade in second.trades
    ), "the sample's variants must trade differently for this test to tell their charts apart"


def test_each_compared_variant_has_its_own_best_and_worst_decisions(report: tuple[Sample, str]) -> None:
    """A section per compared variant, titled with its label, holding its own two decisions and answers."""
    _, document = report
    assert [title for title in headings(document, "h2") if title.startswith("Best")] == [
        "Best and worst decisions of prompt_version=2",
        "Best and worst decisions of prompt_version=3",
    ]
    first = part(document, "<h2>Best and worst decisions of prompt_version=2<", "</section>")
    second = part(document, "<h2>Best and worst decisions of prompt_version=3<", "</section>")
    assert headings(first, "h3") == ["Best decision of prompt_version=2", "Worst decision of prompt_version=2"]
    assert headings(second, "h3") == ["Best decision of prompt_version=3", "Worst decision of prompt_version=3"]
    assert "The first version&#x27;s reading." in first
    assert "Higher lows since Tuesday" not in first
    assert "Higher lows since Tuesday" in second
    assert "The first version" not in second
    assert first.count("<img") == second.count("<img") == 1


def test_a_compared_variant_without_trades_says_so_in_its_section() -> None:
    made = sample()
    first, second, offline = made.result.variants
    idle = second.model_copy(update={"trades": ()})
    result = made.result.model_copy(update={"variants": (first, idle, offline)})
    highlights = tuple(highlight for highlight in made.highlights if highlight.variant == first.variant)
    document = render_report(
        made.summary,
        result,
        bars=made.bars,
        decisions=made.decisions,
        highlights=highlights,
        buy_and_hold_equity=made.hold_equity,
    )
    second_section = part(document, "<h2>Best and worst decisions of prompt_version=3<", "</section>")
    assert "prompt_version=3 made no trade, so no decision of it is highlighted." in second_section
    assert "<h3>" not in second_section
    figure = part(document, "<figcaption>Price, with the trades of prompt_version=3<", "</figure>")
    assert figure.count("<polygon") == 0


def test_a_single_variant_report_keeps_one_price_chart_and_one_highlights_section() -> None:
    """Without a comparison the report is as it always was: three charts, the variant's trades on the price, and
    one untitled-by-variant section of its best and worst decisions."""
    made = single_sample()
    document = made.render()
    page = parsed(document)
    [asked, _] = made.result.variants
    assert headings(document, "h2") == ["Metrics", "Charts", "Trades", "Best and worst decisions"]
    assert headings(document, "figcaption") == ["Equity", "Drawdown", "Price, with the trades of prompt_version=2"]
    assert len(page.named("svg")) == 3
    assert len(page.named("polygon")) == marks(asked.trades) + 3
    assert headings(document, "h3") == ["Best decision of prompt_version=2", "Worst decision of prompt_version=2"]
    assert len(page.named("img")) == 1


def test_metrics_are_formatted_in_the_table(report: tuple[Sample, str]) -> None:
    made, document = report
    text = "".join(parsed(document).text)
    second = made.result.variants[1].metrics
    assert second.total_return is not None
    assert f"{second.total_return * 100:.2f}%" in text
    assert f"{second.fees:,.2f}" in text
    assert "offline rules analyst" in text
    assert "buy and hold" in text


def test_the_decision_log_lists_every_decision_in_a_details_element(report: tuple[Sample, str]) -> None:
    made, document = report
    log = document[document.index("<details>") : document.index("</details>")]
    assert log.count("<tr>") == len(made.decisions) + 1
    assert "model answer was not JSON &lt;oops&gt;" in log


def test_the_decision_log_says_why_a_hold_the_rules_accepted_holds() -> None:
    """A HOLD for low confidence broke no rule: its row says why it held where a rejection names its rule."""
    made = single_sample()
    first = made.decisions[0]
    held = first.model_copy(
        update={
            "action": "HOLD",
            "bias": "bullish",
            "confidence": 40,
            "rejected_rule": None,
            "error": None,
            "held_because": "confidence 40 is below the minimum 60",
        }
    )
    document = replace(made, decisions=(held, *made.decisions[1:])).render()
    rows = part(document, "<details>", "</details>").split("<tr>")
    [row] = [row for row in rows if "confidence 40 is below the minimum 60" in row]
    assert "<td>HOLD</td>" in row and "<td>bullish</td>" in row


def test_the_highlight_shows_its_chart_and_answer(report: tuple[Sample, str]) -> None:
    """Each compared variant's best decision kept its chart; the worst did not."""
    _, document = report
    assert len(parsed(document).named("img")) == 2
    assert "Higher lows since Tuesday" in document


def result_with(low: float, high: float) -> BacktestResult:
    made = sample()
    difference = MetricDifference(metric="total_return", first=0.01, second=0.05, difference=0.04, low=low, high=high)
    return made.result.model_copy(update={"comparison": (difference,)})


def test_an_interval_above_zero_says_the_second_variant_is_better() -> None:
    made = sample()
    document = render_report(
        made.summary,
        result_with(0.01, 0.07),
        bars=made.bars,
        decisions=(),
        highlights=(),
        buy_and_hold_equity=made.hold_equity,
    )
    assert "prompt_version=3 is better" in document
    assert "[+1.00 pp, +7.00 pp]" in document


def test_an_interval_round_zero_says_it_could_be_chance_as_the_cli_and_ui_do() -> None:
    made = sample()
    document = render_report(
        made.summary,
        result_with(-0.02, 0.09),
        bars=made.bars,
        decisions=(),
        highlights=(),
        buy_and_hold_equity=made.hold_equity,
    )
    assert COULD_BE_CHANCE in document
    assert "could be luck" not in document
    assert "prompt_version=3 is better" not in document


def test_a_report_without_bars_or_trades_still_draws_three_charts() -> None:
    made = sample()
    empty = VariantResult(variant="base", metrics=made.result.buy_and_hold, trades=(), equity=())
    result = BacktestResult(variants=(empty,), buy_and_hold=made.result.buy_and_hold)
    document = render_report(made.summary, result, bars=(), decisions=(), highlights=(), buy_and_hold_equity=())
    page = parsed(document)
    assert len(page.named("svg")) == 3
    assert "No trade was made." in document


@pytest.mark.parametrize(
    ("metric", "value", "shown"),
    [
        ("total_return", 0.12345, "12.35%"),
        ("sharpe", 1.5, "1.50"),
        ("trades", 1234, "1,234"),
        ("fees", Decimal("1234.5"), "1,234.50"),
        ("model_cost", Decimal("0.0042"), "0.0042"),
        ("fees", Decimal("0.004"), "< 0.01"),
        ("calmar", None, "n/a"),
    ],
)
def test_metric_formats(metric: str, value: float | Decimal | None, shown: str) -> None:
    assert format_metric(METRIC_INFO[metric], value) == shown


def test_differences_of_percentages_are_percentage_points() -> None:
    assert format_difference(METRIC_INFO["hit_rate"], 0.015) == "+1.50 pp"
    assert format_difference(METRIC_INFO["sharpe"], -0.5) == "-0.50"
    assert format_difference(METRIC_INFO["trades"], 3.0) == "+3"
