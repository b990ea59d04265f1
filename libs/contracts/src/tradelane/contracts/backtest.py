"""Backtests: a strategy run over a past period through the same services as live, and what came of it.

A backtest is asked for with a :class:`BacktestRequest` (``tradelane.backtest.create``, answered by the
backtester with a :class:`BacktestReply`). Each of its decisions is an ordinary execution (trigger
``backtest``) whose messages carry a :class:`~tradelane.contracts.envelope.BacktestTag`; its orders go
to a simulated venue of the backtest only, never to the paper or live book.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal, Self
from uuid import UUID

from pydantic import AwareDatetime, Field, model_validator

from tradelane.contracts.envelope import Contract
from tradelane.contracts.fields import PlainDecimal, Text
from tradelane.contracts.strategy import BarSize, Schedule, StrategyDefinition

BAR_CADENCE = "bar"
"""Decide at the close of every bar of the strategy's bar size."""
CRON_CADENCE = "cron"
"""Decide on the strategy's own cron schedule, replayed over the period."""
HOURLY_CADENCE = "0 * * * *"
"""Decide once an hour, on the hour (in the strategy's time zone), at the first run after a new bar."""

BASE_VARIANT = "base"
"""The strategy as stored (with the request's overrides, if any)."""
OFFLINE_VARIANT = "offline"
"""The baseline every backtest runs beside the strategy: the offline rules analyst on the same bars."""

MAX_DECISIONS = 100_000
"""Decisions per variant a backtest may plan."""


def default_cadence(strategy: StrategyDefinition) -> str:
    """The cadence a backtest of ``strategy`` decides at unless asked for another: every bar's close for bars
    of an hour or longer, once an hour for shorter ones.

    It never runs more often than one bar (the backtester refuses that), and a month of a strategy on
    1-minute bars is some 720 decisions, not 43,200. The strategy's own cron is not the default: a schedule
    made for live runs is often finer than its bars (every 5 minutes over daily bars) or, over bars of a
    minute, far too many decisions to pay a model for.
    """
    return BAR_CADENCE if strategy.bar_size.seconds >= BarSize.HOUR_1.seconds else HOURLY_CADENCE


class VariantOverrides(Contract):
    """What one variant changes in the strategy's analysis; None keeps the strategy's own value."""

    analyst: Literal["auto", "offline", "llm"] | None = None
    model: Text | None = Field(default=None, max_length=200)
    prompt_version: int | None = Field(default=None, ge=1)

    def label(self) -> str:
        """The variant's name: its overrides as ``key=value`` pairs, or 'base' without any."""
        parts = [f"{key}={value}" for key, value in self.model_dump(exclude_none=True).items()]
        return ",".join(parts) or BASE_VARIANT


class SimulationCosts(Contract):
    """The simulated venue's costs: slippage in basis points of price, commission as a rate with a minimum."""

    slippage_bps: PlainDecimal = Field(default=Decimal(2), ge=0, le=1000)
    commission_rate: PlainDecimal = Field(default=Decimal("0.0002"), ge=0, le=Decimal("0.1"))
    commission_minimum: PlainDecimal = Field(default=Decimal(1), ge=0, le=1000)


class BacktestRequest(Contract):
    """Run a stored strategy over ``[start, end]``, deciding at each ``cadence`` time."""

    strategy_id: UUID
    start: AwareDatetime
    end: AwareDatetime
    cadence: Text = Field(
        default=CRON_CADENCE,
        max_length=120,
        description="'bar' (every bar's close), 'cron' (the strategy's schedule) or a cron expression.",
    )
    variants: tuple[VariantOverrides, ...] = Field(
        default=(),
        max_length=2,
        description="None: the strategy as stored; one: the strategy with those overrides; two: an A/B comparison "
        "on identical decisions.",
    )
    costs: SimulationCosts = Field(default_factory=SimulationCosts)
    budget_usd: PlainDecimal | None = Field(
        default=None, ge=0, description="Stop the run when its model cost reaches this (None: no limit)."
    )
    estimate_only: bool = Field(default=False, description="Plan and estimate, run nothing.")
    name: Text | None = Field(default=None, max_length=120)

    @model_validator(mode="after")
    def _period(self) -> Self:
        if self.end <= self.start:
            msg = f"end ({self.end.isoformat()}) must be after start ({self.start.isoformat()})"
            raise ValueError(msg)
        labels = [variant.label() for variant in self.variants]
        if len(set(labels)) != len(labels):
            msg = f"the variants compared must differ, got {labels[0]} twice"
            raise ValueError(msg)
        return self


class BacktestEstimate(Contract):
    """What a backtest will cost, known before it runs."""

    decisions: int = Field(ge=0, description="Decisions per variant.")
    variants: tuple[str, ...]
    model_calls: int = Field(ge=0, description="Model calls expected to be asked (not answered from the cache).")
    cached_decisions: int = Field(ge=0, description="Decisions whose answers an earlier run already paid for.")
    cost_usd: PlainDecimal | None = Field(description="Estimated model cost; None when a model has no price.")
    first_decision_at: AwareDatetime | None = None
    last_decision_at: AwareDatetime | None = None


BacktestStatus = Literal["running", "stopping", "stopped", "completed", "failed"]


class BacktestReply(Contract):
    """The backtester's answer to a create or a control request."""

    outcome: Literal["created", "estimated", "invalid", "not_found", "stopped", "resumed", "unavailable"]
    backtest_id: UUID | None = None
    estimate: BacktestEstimate | None = None
    reason: str | None = Field(default=None, description="Why it was refused, in words a user can act on.")


class BacktestControl(Contract):
    """Stop a running backtest (it can be resumed), or resume a stopped one where it stopped."""

    backtest_id: UUID
    action: Literal["stop", "resume"]


class BacktestMetrics(Contract):
    """How one variant (or buy-and-hold) did over the period. Ratios are fractions (0.1 = 10 %)."""

    total_return: float | None
    annual_return: float | None
    sharpe: float | None
    sortino: float | None
    max_drawdown: float | None = Field(description="Largest fall from a peak of equity, as a positive fraction.")
    calmar: float | None
    hit_rate: float | None = Field(description="Share of closed trades with a profit.")
    profit_factor: float | None
    exposure: float | None = Field(description="Share of bars with a position open.")
    trades: int = Field(ge=0)
    directional_accuracy: float | None = Field(
        description="Share of bullish or bearish decisions whose bias the next decision's price agreed with."
    )
    fees: PlainDecimal
    model_cost: PlainDecimal | None


class SimulatedTrade(Contract):
    """A round trip on the simulated venue: entry fill to exit fill (or still open at the end)."""

    decision_seq: int = Field(ge=0)
    execution_id: UUID
    side: Literal["long", "short"]
    quantity: PlainDecimal
    entry_at: AwareDatetime
    entry_price: PlainDecimal
    exit_at: AwareDatetime | None
    exit_price: PlainDecimal | None
    exit_reason: Literal["stop", "target", "end_of_period"] | None
    pnl: PlainDecimal = Field(description="Realised (or, open at the end, marked) P&L after fees.")
    fees: PlainDecimal


class EquityPoint(Contract):
    time: datetime
    equity: PlainDecimal


class VariantResult(Contract):
    variant: str
    metrics: BacktestMetrics
    trades: tuple[SimulatedTrade, ...]
    equity: tuple[EquityPoint, ...]


class MetricDifference(Contract):
    """One metric of the second compared variant minus the first, with a bootstrap 95 % interval."""

    metric: str
    first: float | None
    second: float | None
    difference: float | None
    low: float | None
    high: float | None


class BacktestResult(Contract):
    """Every variant's result beside buy-and-hold, and the A/B comparison when two variants were compared."""

    variants: tuple[VariantResult, ...]
    buy_and_hold: BacktestMetrics
    comparison: tuple[MetricDifference, ...] = ()


class BacktestProgress(Contract):
    """How far a backtest is, over all its variants."""

    decisions_total: int = Field(ge=0)
    decisions_done: int = Field(ge=0, description="Decisions whose signal step answered (generated or rejected).")
    decisions_failed: int = Field(ge=0, description="Decisions whose execution failed (StepFailed).")
    cache_hits: int = Field(ge=0, description="Model calls answered from the response cache.")
    cache_misses: int = Field(ge=0, description="Model calls asked of the model.")
    cost_usd: PlainDecimal = Field(description="Model cost so far.")


class BacktestSummary(Contract):
    """One backtest as listed: what was asked, where it stands."""

    id: UUID
    name: str
    strategy_id: UUID
    strategy_name: str
    request: BacktestRequest
    status: BacktestStatus
    reason: str | None = Field(default=None, description="Why it stopped or failed.")
    estimate: BacktestEstimate
    progress: BacktestProgress
    created_at: AwareDatetime
    finished_at: AwareDatetime | None = None
    has_result: bool = False
    schedule: Schedule | None = Field(
        default=None,
        description="The strategy's schedule as the backtest ran it (every variant shares it): the cron a 'cron' "
        "cadence replays, and the time zone any cron expression cadence is read in. None when not known.",
    )


DecisionStatus = Literal["pending", "published", "done", "failed"]


class BacktestDecisionRecord(Contract):
    """One decision of one variant: when, which execution, and what the pipeline answered."""

    variant: str
    seq: int = Field(ge=0)
    decided_at: AwareDatetime
    execution_id: UUID
    status: DecisionStatus
    action: str | None = Field(default=None, description="BUY, SELL or HOLD once the signal step answered.")
    bias: str | None = None
    confidence: int | None = None
    rejected_rule: str | None = Field(default=None, description="The rule a rejected candidate broke.")
    held_because: str | None = Field(
        default=None,
        description="Why a HOLD the rules accepted holds ('confidence 40 is below the minimum 60'); None otherwise.",
    )
    error: str | None = Field(default=None, description="Why the execution failed.")
    cost_usd: PlainDecimal | None = None
    cache_hits: int = 0
    cache_misses: int = 0
