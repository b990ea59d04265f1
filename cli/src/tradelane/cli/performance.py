"""``tradelane performance``: how well signals did, by prompt version, model, strategy or analyst, as a table.

The same numbers as ``GET /api/performance`` (:mod:`tradelane.contracts.performance`), read from
the signals ledger in PostgreSQL.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from tradelane.cli.context import Connections, Console
from tradelane.cli.format import table
from tradelane.contracts.performance import GroupBy, GroupPerformance, performance
from tradelane.store.ledger import LedgerRepository


@dataclass(frozen=True)
class PerformanceOptions:
    group_by: GroupBy
    since: datetime | None
    until: datetime | None
    strategy_id: UUID | None
    include_replays: bool
    min_outcomes: int


def _percent(share: float | None) -> str | None:
    return None if share is None else f"{100 * share:.0f} %"


def _r(value: float | None) -> str | None:
    return None if value is None else f"{value:+.2f}"


def _interval(group: GroupPerformance) -> str | None:
    if group.mean_r_interval is None:
        return None
    low, high = group.mean_r_interval
    return f"[{low:+.2f}, {high:+.2f}]"


def rows_of(groups: list[GroupPerformance]) -> list[list[object]]:
    """One table row per group, ranked ones first."""
    return [
        [
            group.rank if group.rank is not None else "-",
            group.label,
            group.signals,
            group.outcomes,
            _percent(group.hit_rate),
            _r(group.mean_r),
            _interval(group),
            _r(group.median_r),
            _r(group.expectancy_r),
            None if group.profit_factor is None else f"{group.profit_factor:.2f}",
            None if group.brier_score is None else f"{group.brier_score:.3f}",
            _percent(group.hold_accuracy),
            None if group.cost_per_signal is None else f"{group.cost_per_signal:.4f}",
            None if group.enough_outcomes else "too few outcomes to rank",
        ]
        for group in groups
    ]


HEADERS = (
    "RANK", "GROUP", "SIGNALS", "OUTCOMES", "HIT", "MEAN R", "95% CI", "MEDIAN R", "EXPECT", "PF", "BRIER",
    "HOLD OK", "COST/SIGNAL", "NOTE",
)  # fmt: skip


async def performance_table(
    connections: Connections, console: Console, options: PerformanceOptions, *, json_output: bool
) -> int:
    signals = await LedgerRepository(await connections.pool()).scored_signals(
        since=options.since,
        until=options.until,
        strategy_id=options.strategy_id,
        include_replays=options.include_replays,
    )
    groups = performance(signals, options.group_by, options.min_outcomes)
    if json_output:
        for group in groups:
            console.json(dataclasses.asdict(group))
        return 0
    if not groups:
        console.print("no signals in the ledger for this window")
        return 0
    console.print(table(HEADERS, rows_of(groups)))
    return 0
