"""Backtests (schema ``backtest``): each run with its plan and result, and every decision as the pipeline answered it.

The backtester writes it; the gateway and the CLI read it. A decision is keyed by (backtest, variant, seq) and by
its execution id, and each message of its execution fills in its part once: a redelivered message changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import asyncpg

from tradelane.contracts.backtest import (
    BacktestDecisionRecord,
    BacktestEstimate,
    BacktestProgress,
    BacktestRequest,
    BacktestResult,
    BacktestStatus,
    BacktestSummary,
)
from tradelane.contracts.events import held_because
from tradelane.contracts.strategy import Schedule


@dataclass(frozen=True)
class NewRun:
    """A backtest as planned, before its first decision runs."""

    id: UUID
    name: str
    strategy_id: UUID
    strategy_name: str
    request: BacktestRequest
    strategies: dict[str, dict[str, Any]]
    """Variant name -> the StrategyDefinition (JSON) its decisions run. Stored as jsonb, which keeps no key order:
    the request's variants give the order."""
    estimate: BacktestEstimate


@dataclass(frozen=True)
class PlannedDecision:
    """One decision of one variant: when it decides and the execution that will run it."""

    variant: str
    seq: int
    decided_at: datetime
    execution_id: UUID
    fingerprint: str


@dataclass(frozen=True)
class DecisionOutcome:
    """What the signal step answered for a decision, kept for the simulation and the report."""

    variant: str
    seq: int
    decided_at: datetime
    execution_id: UUID
    status: str
    signal: dict[str, Any] | None
    """The SignalGenerated or SignalRejected as published; None until the signal step answers."""
    rejected_rule: str | None
    """The rule that refused the candidate when ``signal`` is a SignalRejected, else None."""


@dataclass(frozen=True)
class RunState:
    """Where a backtest stands, as its runner needs to know at each look: read without going over all its decisions.

    Every field but ``cost_usd`` is a column of the run or a probe of the index ``decisions_waiting``, so a look
    costs the same at the first decision and at the 17,500th. The model cost is a sum over the decisions, made
    only for a run with a budget (one that asks a model, and waits seconds for it at each decision)."""

    status: BacktestStatus
    strategy_id: UUID
    budget_usd: Decimal | None
    """The request's budget (None: no limit)."""
    pending: bool
    """Whether some decision is not published yet."""
    in_flight: int
    """Decisions published whose signal step has not answered yet."""
    cost_usd: Decimal | None
    """The model cost so far when the run has a budget; None (not summed) when it has none."""

    @property
    def all_answered(self) -> bool:
        """Whether every decision is done or failed (none pending, none in flight)."""
        return not self.pending and self.in_flight == 0


_SUMMARY_COLUMNS = (
    "r.id, r.name, r.strategy_id, r.strategy_name, r.request, r.estimate, r.status, r.reason, r.created_at,"
    " r.finished_at, r.result IS NOT NULL AS has_result,"
    " count(d.seq) AS decisions_total,"
    " count(d.seq) FILTER (WHERE d.status = 'done') AS decisions_done,"
    " count(d.seq) FILTER (WHERE d.status = 'failed') AS decisions_failed,"
    " coalesce(sum(d.cache_hits), 0) AS cache_hits, coalesce(sum(d.cache_misses), 0) AS cache_misses,"
    " coalesce(sum(d.cost_usd), 0) AS cost_usd,"
    # Variants change only the analysis: every variant's definition has the same schedule, so any one will do.
    " (SELECT v.definition -> 'schedule' FROM jsonb_each(r.strategies) AS v(variant, definition) LIMIT 1)"
    " AS schedule"
)
_SUMMARY_FROM = " FROM backtest.runs r LEFT JOIN backtest.decisions d ON d.backtest_id = r.id"
_DECISION_COLUMNS = (
    "variant, seq, decided_at, execution_id, status, action, bias, confidence, rejected_rule, error, cost_usd,"
    " cache_hits, cache_misses,"
    " CASE WHEN action = 'HOLD' AND rejected_rule IS NULL THEN signal->'signal'->'reasons' END AS hold_reasons"
)


def _decision(row: asyncpg.Record) -> BacktestDecisionRecord:
    """A decision as read, with why it holds from the reasons of the HOLD it stored (a SignalGenerated)."""
    fields = dict(row)
    reasons = fields.pop("hold_reasons")
    return BacktestDecisionRecord.model_validate({**fields, "held_because": held_because(reasons or ())})


def _summary(row: asyncpg.Record) -> BacktestSummary:
    return BacktestSummary(
        id=row["id"],
        name=row["name"],
        strategy_id=row["strategy_id"],
        strategy_name=row["strategy_name"],
        request=BacktestRequest.model_validate(row["request"]),
        status=row["status"],
        reason=row["reason"],
        estimate=BacktestEstimate.model_validate(row["estimate"]),
        progress=BacktestProgress(
            decisions_total=row["decisions_total"],
            decisions_done=row["decisions_done"],
            decisions_failed=row["decisions_failed"],
            cache_hits=row["cache_hits"],
            cache_misses=row["cache_misses"],
            cost_usd=row["cost_usd"],
        ),
        created_at=row["created_at"],
        finished_at=row["finished_at"],
        has_result=row["has_result"],
        schedule=None if row["schedule"] is None else Schedule.model_validate(row["schedule"]),
    )


class BacktestRepository:
    """Reads and writes ``backtest.runs`` and ``backtest.decisions``."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    # Written by the backtester ---------------------------------------------------------

    async def create(self, run: NewRun, decisions: Sequence[PlannedDecision]) -> None:
        """Record a run and its planned decisions together."""
        async with self._pool.acquire() as connection, connection.transaction():
            await connection.execute(
                "INSERT INTO backtest.runs"
                " (id, name, strategy_id, strategy_name, request, strategies, estimate, status)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, 'running')",
                run.id,
                run.name,
                run.strategy_id,
                run.strategy_name,
                run.request.model_dump(mode="json"),
                run.strategies,
                run.estimate.model_dump(mode="json"),
            )
            await connection.copy_records_to_table(
                "decisions",
                schema_name="backtest",
                columns=("backtest_id", "variant", "seq", "decided_at", "execution_id", "fingerprint"),
                records=[(run.id, d.variant, d.seq, d.decided_at, d.execution_id, d.fingerprint) for d in decisions],
            )

    async def strategies(self, backtest_id: UUID) -> dict[str, dict[str, Any]] | None:
        """Variant name -> the strategy definition (JSON) its decisions run; None for an unknown backtest.

        In jsonb's order (shortest name first), not the request's: a caller that shows or compares the variants
        orders them by the request."""
        value = await self._pool.fetchval("SELECT strategies FROM backtest.runs WHERE id = $1", backtest_id)
        return None if value is None else dict(value)

    async def waiting(self, backtest_id: UUID, limit: int) -> list[PlannedDecision]:
        """Decisions not yet published, in time order (the variants side by side)."""
        rows = await self._pool.fetch(
            "SELECT variant, seq, decided_at, execution_id, fingerprint FROM backtest.decisions"
            " WHERE backtest_id = $1 AND status = 'pending' ORDER BY seq, variant LIMIT $2",
            backtest_id,
            limit,
        )
        return [PlannedDecision(**dict(row)) for row in rows]

    async def run_state(self, backtest_id: UUID) -> RunState | None:
        """Where a backtest stands (see :class:`RunState`); None for an unknown backtest."""
        row = await self._pool.fetchrow(
            "SELECT r.status, r.strategy_id, (r.request ->> 'budget_usd')::numeric AS budget_usd,"
            # The first pending decision in the index's order, not an EXISTS: PostgreSQL may plan that as a scan of
            # the table, expecting a pending row early, while the pending ones are behind all the answered ones.
            " (SELECT d.seq FROM backtest.decisions d WHERE d.backtest_id = r.id AND d.status = 'pending'"
            " ORDER BY d.seq LIMIT 1) IS NOT NULL AS pending,"
            " (SELECT count(*) FROM backtest.decisions d WHERE d.backtest_id = r.id AND d.status = 'published')"
            " AS in_flight,"
            # A CASE evaluates the sum only for a run with a budget.
            " CASE WHEN r.request ->> 'budget_usd' IS NOT NULL THEN"
            " (SELECT coalesce(sum(d.cost_usd), 0) FROM backtest.decisions d WHERE d.backtest_id = r.id) END"
            " AS cost_usd"
            " FROM backtest.runs r WHERE r.id = $1",
            backtest_id,
        )
        return None if row is None else RunState(**dict(row))

    async def decisions_answered(self, backtest_id: UUID) -> int:
        """Decisions done or failed (counted over all of them: for the rare message that needs the number)."""
        count: int = await self._pool.fetchval(
            "SELECT count(*) FROM backtest.decisions WHERE backtest_id = $1 AND status IN ('done', 'failed')",
            backtest_id,
        )
        return count

    async def in_flight(self, backtest_id: UUID) -> int:
        """Decisions published whose signal step has not answered yet."""
        count: int = await self._pool.fetchval(
            "SELECT count(*) FROM backtest.decisions WHERE backtest_id = $1 AND status = 'published'", backtest_id
        )
        return count

    async def analyses_pending(self, backtest_id: UUID) -> int:
        """Decisions whose signal is in but whose analysis is not yet (the two come on different consumers)."""
        count: int = await self._pool.fetchval(
            "SELECT count(*) FROM backtest.decisions WHERE backtest_id = $1 AND status = 'done' AND NOT analysed",
            backtest_id,
        )
        return count

    async def mark_published(self, execution_ids: Iterable[UUID]) -> None:
        await self._pool.execute(
            "UPDATE backtest.decisions SET status = 'published' WHERE execution_id = ANY($1) AND status = 'pending'",
            list(execution_ids),
        )

    async def record_analysis(self, execution_id: UUID, cost: Decimal, hits: int, misses: int) -> bool:
        """The analysis step's model calls of a decision (once); False when the decision is unknown or recorded."""
        result: str = await self._pool.execute(
            "UPDATE backtest.decisions SET cost_usd = $2, cache_hits = $3, cache_misses = $4, analysed = true"
            " WHERE execution_id = $1 AND NOT analysed",
            execution_id,
            cost,
            hits,
            misses,
        )
        return result.endswith(" 1")

    async def record_signal(
        self,
        execution_id: UUID,
        *,
        action: str,
        bias: str,
        confidence: int,
        rejected_rule: str | None,
        signal: dict[str, Any],
    ) -> bool:
        """The signal step's answer for a decision (once); False when the decision is unknown or already answered."""
        result: str = await self._pool.execute(
            "UPDATE backtest.decisions SET status = 'done', action = $2, bias = $3, confidence = $4,"
            " rejected_rule = $5, signal = $6 WHERE execution_id = $1 AND status IN ('pending', 'published')",
            execution_id,
            action,
            bias,
            confidence,
            rejected_rule,
            signal,
        )
        return result.endswith(" 1")

    async def record_failure(self, execution_id: UUID, error: str) -> bool:
        """A decision whose execution failed (once); False when the decision is unknown or already answered."""
        result: str = await self._pool.execute(
            "UPDATE backtest.decisions SET status = 'failed', error = $2"
            " WHERE execution_id = $1 AND status IN ('pending', 'published')",
            execution_id,
            error,
        )
        return result.endswith(" 1")

    async def backtest_of(self, execution_id: UUID) -> UUID | None:
        value: UUID | None = await self._pool.fetchval(
            "SELECT backtest_id FROM backtest.decisions WHERE execution_id = $1", execution_id
        )
        return value

    async def set_status(self, backtest_id: UUID, status: BacktestStatus, reason: str | None = None) -> None:
        finished = status in ("stopped", "completed", "failed")
        await self._pool.execute(
            "UPDATE backtest.runs SET status = $2, reason = $3, updated_at = now(),"
            " finished_at = CASE WHEN $4 THEN now() ELSE NULL END WHERE id = $1",
            backtest_id,
            status,
            reason,
            finished,
        )

    async def store_result(self, backtest_id: UUID, result: BacktestResult, report_html: str) -> None:
        await self._pool.execute(
            "UPDATE backtest.runs SET result = $2, report_html = $3, status = 'completed', reason = NULL,"
            " updated_at = now(), finished_at = now() WHERE id = $1",
            backtest_id,
            result.model_dump(mode="json"),
            report_html,
        )

    async def active(self) -> list[UUID]:
        """Backtests that were running (or stopping) when the backtester last stopped: to take up again."""
        rows = await self._pool.fetch(
            "SELECT id FROM backtest.runs WHERE status IN ('running', 'stopping') ORDER BY created_at"
        )
        return [row["id"] for row in rows]

    async def answered(self, fingerprints: Sequence[str]) -> set[str]:
        """Of ``fingerprints``, those an earlier decision already ran to the end (its model answers are cached)."""
        rows = await self._pool.fetch(
            "SELECT DISTINCT fingerprint FROM backtest.decisions WHERE status = 'done' AND fingerprint = ANY($1)",
            list(fingerprints),
        )
        return {row["fingerprint"] for row in rows}

    async def outcomes(self, backtest_id: UUID) -> list[DecisionOutcome]:
        """Every decision with the signal its execution published, in time order (for the simulation)."""
        rows = await self._pool.fetch(
            "SELECT variant, seq, decided_at, execution_id, status, signal, rejected_rule FROM backtest.decisions"
            " WHERE backtest_id = $1 ORDER BY variant, seq",
            backtest_id,
        )
        return [DecisionOutcome(**dict(row)) for row in rows]

    # Read by the gateway and the CLI ---------------------------------------------------

    async def summaries(self, limit: int = 50, strategy_id: UUID | None = None) -> list[BacktestSummary]:
        """The newest backtests first."""
        rows = await self._pool.fetch(
            f"SELECT {_SUMMARY_COLUMNS}{_SUMMARY_FROM} WHERE $2::uuid IS NULL OR r.strategy_id = $2"
            " GROUP BY r.id ORDER BY r.created_at DESC LIMIT $1",
            limit,
            strategy_id,
        )
        return [_summary(row) for row in rows]

    async def summary(self, backtest_id: UUID) -> BacktestSummary | None:
        row = await self._pool.fetchrow(
            f"SELECT {_SUMMARY_COLUMNS}{_SUMMARY_FROM} WHERE r.id = $1 GROUP BY r.id", backtest_id
        )
        return None if row is None else _summary(row)

    async def decisions(self, backtest_id: UUID) -> list[BacktestDecisionRecord]:
        """Every decision of every variant, in time order."""
        rows = await self._pool.fetch(
            f"SELECT {_DECISION_COLUMNS} FROM backtest.decisions WHERE backtest_id = $1 ORDER BY seq, variant",
            backtest_id,
        )
        return [_decision(row) for row in rows]

    async def result(self, backtest_id: UUID) -> BacktestResult | None:
        value = await self._pool.fetchval("SELECT result FROM backtest.runs WHERE id = $1", backtest_id)
        return None if value is None else BacktestResult.model_validate(value)

    async def report_html(self, backtest_id: UUID) -> str | None:
        value: str | None = await self._pool.fetchval(
            "SELECT report_html FROM backtest.runs WHERE id = $1", backtest_id
        )
        return value
