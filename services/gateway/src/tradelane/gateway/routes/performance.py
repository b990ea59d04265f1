"""``/api/performance``: how well signals did, by prompt version, model, strategy or analyst.

The numbers come from the signals ledger (each generated signal with the outcome that counts
for it) and :mod:`tradelane.contracts.performance`, which ``tradelane performance`` uses too.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from tradelane.contracts.fields import Moment, PlainDecimal
from tradelane.contracts.performance import (
    DEFAULT_MIN_OUTCOMES,
    CalibrationBucket,
    GroupBy,
    GroupPerformance,
    performance,
)
from tradelane.gateway.deps import Ledger

router = APIRouter(prefix="/api/performance", tags=["performance"])


class CalibrationOut(BaseModel):
    """BUY/SELL outcomes whose confidence fell in ``[low, high]``, and how often they were right."""

    low: int
    high: int
    outcomes: int
    hit_rate: float
    mean_confidence: float

    @classmethod
    def of(cls, bucket: CalibrationBucket) -> CalibrationOut:
        return cls.model_validate(bucket, from_attributes=True)


class GroupOut(BaseModel):
    """One group's numbers; a group with too few outcomes says so and has no rank."""

    key: str = Field(description="What the signals share: a template id and version, a model, a strategy id...")
    label: str = Field(description="The same, readable: 'swing v3', a model's name, a strategy's name.")
    rank: int | None = Field(description="By mean R among the groups with enough outcomes; null for the others.")
    signals: int = Field(description="Generated signals (HOLDs included).")
    outcomes: int = Field(description="BUY/SELL outcomes behind the numbers below.")
    enough_outcomes: bool
    note: str | None = Field(description="'too few outcomes to rank' when there are fewer than min_outcomes.")
    hit_rate: float | None = Field(description="Share of BUY/SELL outcomes with R above 0.")
    mean_r: float | None
    median_r: float | None
    mean_r_interval: tuple[float, float] | None = Field(description="95 % interval of the mean R (bootstrap).")
    expectancy_r: float | None = Field(description="Hit rate x average win minus miss rate x average loss, in R.")
    profit_factor: float | None = Field(description="R won over R lost; null without a loss.")
    total_r: float | None
    pnl: PlainDecimal | None = Field(description="P&L of the traded and manual outcomes, net of fees.")
    average_confidence: float | None
    brier_score: float | None = Field(description="Mean (confidence/100 - hit)^2: 0 is perfect, 0.25 a coin.")
    calibration: list[CalibrationOut] = Field(description="Hit rate per confidence bucket of ten points.")
    hold_outcomes: int = Field(description="HOLDs judged.")
    hold_accuracy: float | None = Field(description="Share of those where price stayed put (the HOLD was right).")
    tokens_in: int
    tokens_out: int
    cost: PlainDecimal | None
    cost_per_signal: PlainDecimal | None
    cost_per_r: PlainDecimal | None = Field(description="Cost per R won; null unless the group made R overall.")

    @classmethod
    def of(cls, group: GroupPerformance) -> GroupOut:
        def money(value: Decimal | None) -> Decimal | None:
            return None if value is None else value.quantize(Decimal("0.000001")).normalize()

        return cls(
            key=group.key,
            label=group.label,
            rank=group.rank,
            signals=group.signals,
            outcomes=group.outcomes,
            enough_outcomes=group.enough_outcomes,
            note=None if group.enough_outcomes else "too few outcomes to rank",
            hit_rate=group.hit_rate,
            mean_r=group.mean_r,
            median_r=group.median_r,
            mean_r_interval=group.mean_r_interval,
            expectancy_r=group.expectancy_r,
            profit_factor=group.profit_factor,
            total_r=group.total_r,
            pnl=money(group.pnl),
            average_confidence=group.average_confidence,
            brier_score=group.brier_score,
            calibration=[CalibrationOut.of(bucket) for bucket in group.calibration],
            hold_outcomes=group.hold_outcomes,
            hold_accuracy=group.hold_accuracy,
            tokens_in=group.tokens_in,
            tokens_out=group.tokens_out,
            cost=money(group.cost),
            cost_per_signal=money(group.cost_per_signal),
            cost_per_r=money(group.cost_per_r),
        )


class PerformanceOut(BaseModel):
    group_by: GroupBy
    since: datetime | None
    until: datetime | None
    min_outcomes: int
    groups: list[GroupOut] = Field(description="Ranked groups first (best mean R first), then the others.")


@router.get("", summary="Signal performance by prompt version, model, strategy or analyst")
async def get_performance(
    ledger: Ledger,
    group_by: GroupBy = GroupBy.PROMPT_VERSION,
    since: Annotated[Moment | None, Query(description="Only signals made at or after this time.")] = None,
    until: Annotated[Moment | None, Query(description="Only signals made before this time.")] = None,
    strategy_id: UUID | None = None,
    include_replays: Annotated[bool, Query(description="Count the signals of replayed executions too.")] = False,
    min_outcomes: Annotated[
        int, Query(ge=1, le=10_000, description="Fewer BUY/SELL outcomes than this: not ranked.")
    ] = DEFAULT_MIN_OUTCOMES,
) -> PerformanceOut:
    """Hit rate, mean and median R with a 95 % interval, expectancy, profit factor, P&L, calibration
    (hit rate per confidence bucket, Brier score), HOLD accuracy, tokens and cost, per group."""
    signals = await ledger.scored_signals(
        since=since, until=until, strategy_id=strategy_id, include_replays=include_replays
    )
    groups = performance(signals, group_by, min_outcomes)
    return PerformanceOut(
        group_by=group_by,
        since=since,
        until=until,
        min_outcomes=min_outcomes,
        groups=[GroupOut.of(group) for group in groups],
    )
