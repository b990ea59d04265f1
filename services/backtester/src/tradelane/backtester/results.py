"""A finished backtest's result: each variant's decisions traded on the simulated venue, measured, and reported.

Every variant is traded by :func:`tradelane.trading.simulation.simulate` (the broker's own rules) on the same
bars, measured by :mod:`tradelane.backtester.metrics` beside buy-and-hold from the first decision, and the two
compared variants (when asked) by the bootstrap of :mod:`tradelane.backtester.comparison`. The report shows the
best and worst trade of each variant asked for (not the offline baseline) with the chart and answer behind it.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal

from tradelane.backtester.comparison import compare
from tradelane.backtester.metrics import Direction, buy_and_hold, periods_per_year, variant_metrics
from tradelane.backtester.report import Highlight, render_report
from tradelane.backtester.variants import first_variant, in_asked_order
from tradelane.contracts.backtest import (
    OFFLINE_VARIANT,
    BacktestDecisionRecord,
    BacktestResult,
    BacktestSummary,
    MetricDifference,
    SimulatedTrade,
    VariantResult,
)
from tradelane.contracts.events import Bias, SignalGenerated
from tradelane.contracts.market import Bar, ResolvedSymbol
from tradelane.contracts.strategy import BarSize, StrategyDefinition, bar_end
from tradelane.contracts.trading import TradingLimits
from tradelane.store.backtests import DecisionOutcome
from tradelane.trading.paper import PaperCosts
from tradelane.trading.risk import Guardrails
from tradelane.trading.simulation import Decision, Simulation, paper_costs, simulate
from tradelane.trading.sizing import quantity_step

ChartLoader = Callable[[str], Awaitable[bytes | None]]
"""The chart PNG with a sha256, or None when it is no longer kept."""


@dataclass(frozen=True)
class Finished:
    result: BacktestResult
    report_html: str


@dataclass(frozen=True)
class _Variant:
    name: str
    simulation: Simulation
    result: VariantResult
    directions: tuple[Direction, ...]


def decisions_of(outcomes: Sequence[DecisionOutcome]) -> list[Decision]:
    """The simulation's decisions: a generated signal trades; a rejected candidate or a failed step places nothing."""
    return [
        Decision(
            seq=outcome.seq,
            execution_id=outcome.execution_id,
            decided_at=outcome.decided_at,
            signal=SignalGenerated.model_validate(outcome.signal)
            if outcome.status == "done" and outcome.rejected_rule is None and outcome.signal is not None
            else None,
        )
        for outcome in outcomes
    ]


class CloseSeen:
    """The close a decision saw last: that of the last bar closed at or before its time (bars in time order)."""

    def __init__(self, bars: Sequence[Bar], bar_size: BarSize) -> None:
        self._ends = [bar_end(bar_size, bar.time) for bar in bars]
        self._closes = [Decimal(str(bar.close)) for bar in bars]

    def at(self, moment: datetime) -> Decimal | None:
        closed = bisect_right(self._ends, moment)
        return self._closes[closed - 1] if closed else None


def directions_of(
    records: Sequence[BacktestDecisionRecord], bars: Sequence[Bar], bar_size: BarSize, end: datetime
) -> tuple[Direction, ...]:
    """Each decision's bias with the price it saw and the price the next decision saw (the period's end for the
    last). A decision without an answer counts as neutral, so compared variants line up decision for decision."""
    ordered = sorted(records, key=lambda record: record.seq)
    moments = [record.decided_at for record in ordered] + [end]
    close = CloseSeen(sorted(bars, key=lambda bar: bar.time), bar_size)
    directions = []
    for record, after in zip(ordered, moments[1:], strict=True):
        seen, next_seen = close.at(record.decided_at), close.at(after)
        if seen is None or next_seen is None:
            continue
        bias: Bias = "bullish" if record.bias == "bullish" else "bearish" if record.bias == "bearish" else "neutral"
        directions.append(Direction(bias, seen, next_seen))
    return tuple(directions)


def _variant(
    name: str,
    definition: StrategyDefinition,
    outcomes: Sequence[DecisionOutcome],
    records: Sequence[BacktestDecisionRecord],
    context: _Context,
) -> _Variant:
    simulation = simulate(
        context.instrument,
        context.bars,
        decisions_of(outcomes),
        initial_cash=definition.risk.account_size,
        limits=context.limits,
        guards=context.guards,
        costs=context.costs,
        end=context.end,
        risk_fraction=definition.risk.risk_per_trade,
    )
    directions = directions_of(records, context.bars, definition.bar_size, context.end)
    costs = [record.cost_usd for record in records if record.cost_usd is not None]
    metrics = variant_metrics(
        simulation.equity,
        simulation.trades,
        initial_cash=definition.risk.account_size,
        periods_per_year=context.periods,
        directions=directions,
        fees=simulation.fees,
        model_cost=sum(costs, Decimal(0)) if costs else None,
        exposure=simulation.exposure,
    )
    result = VariantResult(variant=name, metrics=metrics, trades=simulation.trades, equity=simulation.equity)
    return _Variant(name, simulation, result, directions)


@dataclass(frozen=True)
class _Context:
    instrument: ResolvedSymbol
    bars: Sequence[Bar]
    end: datetime
    limits: TradingLimits
    guards: Guardrails
    costs: PaperCosts
    periods: float


async def finish(
    summary: BacktestSummary,
    strategies: Mapping[str, StrategyDefinition],
    outcomes: Sequence[DecisionOutcome],
    records: Sequence[BacktestDecisionRecord],
    *,
    instrument: ResolvedSymbol,
    bars: Sequence[Bar],
    limits: TradingLimits,
    guards: Guardrails,
    chart: ChartLoader,
) -> Finished:
    """Trade, measure, compare and report every variant of a backtest whose decisions have all answered.

    The variants are taken in the order the request asks for them, the offline baseline last, whatever the order of
    ``strategies``: the result lists them so, the comparison is the second asked minus the first, and the report
    highlights the best and worst decisions of each asked, in that order.
    """
    strategy = strategies[first_variant(summary.request)]
    context = _Context(
        instrument=instrument,
        bars=sorted(bars, key=lambda bar: bar.time),
        end=summary.request.end,
        limits=limits,
        guards=guards,
        costs=paper_costs(summary.request.costs),
        periods=periods_per_year(strategy.bar_size, instrument.asset_type),
    )
    variants = [
        _variant(
            name,
            strategies[name],
            [outcome for outcome in outcomes if outcome.variant == name],
            [record for record in records if record.variant == name],
            context,
        )
        for name in in_asked_order(summary.request, strategies)
    ]
    first_decision = min((record.decided_at for record in records), default=summary.request.start)
    hold, hold_equity = buy_and_hold(
        context.bars,
        start=first_decision,
        initial_cash=strategy.risk.account_size,
        costs=context.costs,
        tick=Decimal(str(instrument.min_tick)),
        periods_per_year=context.periods,
        quantity_step=quantity_step(instrument.asset_type),
    )
    compared = [variant for variant in variants if variant.name != OFFLINE_VARIANT]
    comparison: tuple[MetricDifference, ...] = ()
    if len(compared) == 2:
        first, second = compared
        comparison = compare(
            first.result,
            second.result,
            initial_cash=strategy.risk.account_size,
            periods_per_year=context.periods,
            directions=(first.directions, second.directions),
        )
    result = BacktestResult(
        variants=tuple(variant.result for variant in variants), buy_and_hold=hold, comparison=comparison
    )
    highlights = [
        highlight
        for variant in compared or variants[:1]
        for highlight in await _highlights(variant, outcomes, records, chart)
    ]
    html = render_report(
        summary, result, bars=context.bars, decisions=records, highlights=highlights, buy_and_hold_equity=hold_equity
    )
    return Finished(result, html)


async def _highlights(
    variant: _Variant,
    outcomes: Sequence[DecisionOutcome],
    records: Sequence[BacktestDecisionRecord],
    chart: ChartLoader,
) -> list[Highlight]:
    """The decisions behind the variant's best and worst trade (one when it traded once, none without trades)."""
    trades = sorted(variant.result.trades, key=lambda trade: trade.pnl)
    if not trades:
        return []
    picked: list[tuple[Literal["best", "worst"], SimulatedTrade]] = [("best", trades[-1])]
    if len(trades) > 1:
        picked.append(("worst", trades[0]))
    highlights = []
    for label, trade in picked:
        record = next(r for r in records if r.variant == variant.name and r.seq == trade.decision_seq)
        outcome = next(o for o in outcomes if o.variant == variant.name and o.seq == trade.decision_seq)
        signal = SignalGenerated.model_validate(outcome.signal)
        sha = signal.provenance.chart_sha256 if signal.provenance is not None else None
        highlights.append(
            Highlight(
                label=label,
                variant=variant.name,
                decision=record,
                trade_pnl=trade.pnl,
                chart_png=await chart(sha) if sha is not None else None,
                answer=signal.analysis.reasoning,
            )
        )
    return highlights
