"""How well signals did, by prompt version, model, strategy or analyst (pure: the standard library only).

The gateway (``GET /api/performance``) and the CLI (``tradelane performance``) both compute it
from the ledger's signals and their outcomes with these functions, so the numbers agree.

Per group, over its generated signals and the outcome that counts for each (manual, else
traded, else shadow):

- **hit rate**: the share of BUY/SELL outcomes with R above 0;
- **mean and median R**, and the **expectancy** in R: hit rate x average winning R minus miss
  rate x average losing R (over outcomes with an R it equals the mean R; it is shown as the
  familiar formula);
- **profit factor**: the R won over the R lost (None with no loss); **total R** and the **P&L**
  of the outcomes that have one (traded and manual);
- **calibration**: per confidence bucket of ten points, the signals and their hit rate, and the
  **Brier score**, the mean of ``(confidence / 100 - hit)^2`` (0 is perfect; always saying 50
  scores 0.25);
- HOLDs apart: how many were judged and the share that were right (price stayed put);
- the tokens and cost of the analyses, per signal and per R won.

A group with fewer than ``min_outcomes`` BUY/SELL outcomes says so and is not ranked; every
group shows its count and a 95 % interval of its mean R: a percentile bootstrap (1,000
resamples, a fixed seed so the same outcomes give the same interval) up to 2,000 outcomes, the
normal approximation above, where the two agree.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from enum import StrEnum
from typing import Final
from uuid import UUID

DEFAULT_MIN_OUTCOMES: Final = 10
BOOTSTRAP_RESAMPLES: Final = 1000
BOOTSTRAP_SEED: Final = 20_260_316
BOOTSTRAP_LIMIT: Final = 2000
"""Above this many outcomes the interval is the normal approximation (the bootstrap would cost too much and agree)."""
CONFIDENCE_BUCKET: Final = 10
_Z95: Final = 1.959964


class GroupBy(StrEnum):
    """What signals are grouped by."""

    PROMPT_VERSION = "prompt_version"
    MODEL = "model"
    STRATEGY = "strategy"
    ANALYST = "analyst"


@dataclass(frozen=True)
class ScoredSignal:
    """A generated signal with what it cost and the outcome that counts for it (None while it has none)."""

    signal_id: UUID
    strategy_id: UUID
    strategy_name: str
    model: str
    analyst: str | None
    prompt_template_id: UUID | None
    prompt_name: str | None
    prompt_version: int | None
    action: str
    confidence: int
    tokens_in: int
    tokens_out: int
    cost: Decimal | None
    hit: bool | None = None
    r_multiple: Decimal | None = None
    pnl: Decimal | None = None
    judged: bool = False
    """It has an outcome (the fields above are that outcome's)."""

    @property
    def directional(self) -> bool:
        return self.action != "HOLD"


def group_of(signal: ScoredSignal, by: GroupBy) -> tuple[str, str]:
    """The key a signal is grouped under and its label, e.g. ``('<uuid>/3', 'swing v3')``."""
    match by:
        case GroupBy.PROMPT_VERSION:
            if signal.prompt_name is None:
                name = "offline (no prompt)" if signal.analyst == "offline" else "unknown prompt"
                return name, name
            version = f" v{signal.prompt_version}" if signal.prompt_version is not None else ""
            return (
                f"{signal.prompt_template_id or signal.prompt_name}/{signal.prompt_version}",
                signal.prompt_name + version,
            )
        case GroupBy.MODEL:
            return signal.model, signal.model
        case GroupBy.STRATEGY:
            return str(signal.strategy_id), signal.strategy_name
        case GroupBy.ANALYST:
            return signal.analyst or "unknown", signal.analyst or "unknown"


@dataclass(frozen=True)
class CalibrationBucket:
    """Directional signals whose confidence fell in ``[low, high]`` and how often they were right."""

    low: int
    high: int
    outcomes: int
    hit_rate: float
    mean_confidence: float


@dataclass(frozen=True)
class GroupPerformance:
    """The numbers of one group (see the module's docstring for each)."""

    key: str
    label: str
    signals: int
    outcomes: int
    """BUY/SELL outcomes with a known hit."""
    enough_outcomes: bool
    rank: int | None
    hit_rate: float | None
    mean_r: float | None
    median_r: float | None
    mean_r_interval: tuple[float, float] | None
    expectancy_r: float | None
    profit_factor: float | None
    total_r: float | None
    pnl: Decimal | None
    average_confidence: float | None
    brier_score: float | None
    calibration: tuple[CalibrationBucket, ...]
    hold_outcomes: int
    hold_accuracy: float | None
    tokens_in: int
    tokens_out: int
    cost: Decimal | None
    cost_per_signal: Decimal | None
    cost_per_r: Decimal | None
    """Cost per R won overall (None unless the group made R on balance)."""


def mean_interval(values: Sequence[float]) -> tuple[float, float] | None:
    """A 95 % interval of the mean of ``values`` (see the module's docstring); None with fewer than two."""
    count = len(values)
    if count < 2:
        return None
    if count > BOOTSTRAP_LIMIT:
        half = _Z95 * statistics.stdev(values) / math.sqrt(count)
        mean = statistics.fmean(values)
        return mean - half, mean + half
    draw = random.Random(BOOTSTRAP_SEED)
    means = sorted(statistics.fmean(draw.choices(values, k=count)) for _ in range(BOOTSTRAP_RESAMPLES))
    return means[int(0.025 * BOOTSTRAP_RESAMPLES)], means[int(0.975 * BOOTSTRAP_RESAMPLES) - 1]


def calibration(signals: Sequence[ScoredSignal]) -> tuple[CalibrationBucket, ...]:
    """Hit rate per confidence bucket of the directional signals with a known hit, lowest bucket first."""
    buckets: dict[int, list[ScoredSignal]] = {}
    for signal in signals:
        buckets.setdefault(min(signal.confidence // CONFIDENCE_BUCKET, 9), []).append(signal)
    return tuple(
        CalibrationBucket(
            low=index * CONFIDENCE_BUCKET,
            high=100 if index == 9 else index * CONFIDENCE_BUCKET + CONFIDENCE_BUCKET - 1,
            outcomes=len(members),
            hit_rate=sum(bool(member.hit) for member in members) / len(members),
            mean_confidence=statistics.fmean(member.confidence for member in members),
        )
        for index, members in sorted(buckets.items())
    )


def brier_score(signals: Sequence[ScoredSignal]) -> float | None:
    """Mean of ``(confidence / 100 - hit)^2`` over directional signals with a known hit; None without any."""
    if not signals:
        return None
    return statistics.fmean((signal.confidence / 100 - (1.0 if signal.hit else 0.0)) ** 2 for signal in signals)


def _share(count: int, total: int) -> float | None:
    return count / total if total else None


def _sum(values: Iterable[Decimal]) -> Decimal:
    return sum(values, Decimal(0))


def _expectancy(rs: Sequence[float]) -> float | None:
    if not rs:
        return None
    wins = [r for r in rs if r > 0]
    losses = [-r for r in rs if r <= 0]
    win_rate = len(wins) / len(rs)
    average_win = statistics.fmean(wins) if wins else 0.0
    average_loss = statistics.fmean(losses) if losses else 0.0
    return win_rate * average_win - (1 - win_rate) * average_loss


def _profit_factor(rs: Sequence[float]) -> float | None:
    lost = -sum(r for r in rs if r < 0)
    return sum(r for r in rs if r > 0) / lost if lost > 0 else None


def group_performance(
    key: str, label: str, signals: Sequence[ScoredSignal], min_outcomes: int = DEFAULT_MIN_OUTCOMES
) -> GroupPerformance:
    """The numbers of one group of signals (not yet ranked)."""
    scored = [signal for signal in signals if signal.directional and signal.judged and signal.hit is not None]
    rs = [float(signal.r_multiple) for signal in scored if signal.r_multiple is not None]
    holds = [signal for signal in signals if not signal.directional and signal.judged and signal.hit is not None]
    pnls = [signal.pnl for signal in signals if signal.pnl is not None]
    costs = [signal.cost for signal in signals if signal.cost is not None]
    cost = _sum(costs) if costs else None
    total_r = sum(rs) if rs else None
    return GroupPerformance(
        key=key,
        label=label,
        signals=len(signals),
        outcomes=len(scored),
        enough_outcomes=len(scored) >= min_outcomes,
        rank=None,
        hit_rate=_share(sum(bool(signal.hit) for signal in scored), len(scored)),
        mean_r=statistics.fmean(rs) if rs else None,
        median_r=statistics.median(rs) if rs else None,
        mean_r_interval=mean_interval(rs),
        expectancy_r=_expectancy(rs),
        profit_factor=_profit_factor(rs),
        total_r=total_r,
        pnl=_sum(pnls) if pnls else None,
        average_confidence=statistics.fmean(signal.confidence for signal in signals) if signals else None,
        brier_score=brier_score(scored),
        calibration=calibration(scored),
        hold_outcomes=len(holds),
        hold_accuracy=_share(sum(bool(signal.hit) for signal in holds), len(holds)),
        tokens_in=sum(signal.tokens_in for signal in signals),
        tokens_out=sum(signal.tokens_out for signal in signals),
        cost=cost,
        cost_per_signal=cost / len(signals) if cost is not None and signals else None,
        cost_per_r=cost / Decimal(str(total_r)) if cost is not None and total_r is not None and total_r > 0 else None,
    )


def _ranked(groups: list[GroupPerformance]) -> list[GroupPerformance]:
    """Groups with enough outcomes ranked by mean R (best first), then the others by their outcomes."""

    def order(group: GroupPerformance) -> tuple[bool, float, int, str]:
        return (not group.enough_outcomes, -(group.mean_r or 0.0), -group.outcomes, group.label)

    ranked: list[GroupPerformance] = []
    for group in sorted(groups, key=order):
        rank = sum(1 for earlier in ranked if earlier.enough_outcomes) + 1 if group.enough_outcomes else None
        ranked.append(replace(group, rank=rank))
    return ranked


def performance(
    signals: Iterable[ScoredSignal], by: GroupBy, min_outcomes: int = DEFAULT_MIN_OUTCOMES
) -> list[GroupPerformance]:
    """Every group's numbers, ranked: those with at least ``min_outcomes`` outcomes by mean R, the rest after."""
    groups: dict[str, tuple[str, list[ScoredSignal]]] = {}
    for signal in signals:
        key, label = group_of(signal, by)
        groups.setdefault(key, (label, []))[1].append(signal)
    return _ranked([group_performance(key, label, members, min_outcomes) for key, (label, members) in groups.items()])
