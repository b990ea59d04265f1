"""Model calls, the response cache and the budget crossings told (schema ``llm``), written by the llm-analyst.

Every call the analyst makes is recorded with its tokens and estimated cost (``usage`` sums
them by day, strategy and model); the whole call - prompts, image hashes, raw replies, parsed
answer - is kept in ``record``. Valid replies are cached by a key over everything that shapes
the answer, so a re-run can be answered without asking the model again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

import asyncpg

CallStatus = Literal["succeeded", "invalid", "failed"]
"""``succeeded``: a valid answer; ``invalid``: replies that never were the schema; ``failed``: no reply."""


@dataclass(frozen=True)
class CallRecord:
    """One model call as recorded."""

    id: UUID
    execution_id: UUID
    strategy_id: UUID
    purpose: str
    timeframe: str
    provider: str
    model: str
    status: CallStatus
    cached: bool
    tokens_in: int
    tokens_out: int
    latency_ms: float
    cost: Decimal | None
    error: str | None
    record: dict[str, Any]
    occurred_at: datetime


@dataclass(frozen=True)
class CachedReply:
    """A valid reply kept for identical requests."""

    key: str
    model: str
    reply: str
    tokens_in: int
    tokens_out: int
    execution_id: UUID
    created_at: datetime


@dataclass(frozen=True)
class UsageRow:
    """Calls, tokens and cost of one strategy with one model on one (UTC) day."""

    day: date
    strategy_id: UUID
    strategy_name: str | None
    model: str
    calls: int
    cached_calls: int
    failed_calls: int
    tokens_in: int
    tokens_out: int
    cost: Decimal
    unpriced_calls: int
    """Calls that used tokens but whose model is not in the price table (their cost is not in ``cost``)."""


_CALL_COLUMNS = (
    "id, execution_id, strategy_id, purpose, timeframe, provider, model, status, cached,"
    " tokens_in, tokens_out, latency_ms, cost, error, record, occurred_at"
)


class LlmRepository:
    """Reads and writes ``llm.calls``, ``llm.response_cache`` and ``llm.budget_crossings``."""

    def __init__(self, pool: asyncpg.Pool[Any]) -> None:
        self._pool = pool

    async def record_call(self, call: CallRecord) -> None:
        """Record a call (idempotent on its id)."""
        await self._pool.execute(
            f"INSERT INTO llm.calls ({_CALL_COLUMNS})"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
            " ON CONFLICT (id) DO NOTHING",
            call.id,
            call.execution_id,
            call.strategy_id,
            call.purpose,
            call.timeframe,
            call.provider,
            call.model,
            call.status,
            call.cached,
            call.tokens_in,
            call.tokens_out,
            call.latency_ms,
            call.cost,
            call.error,
            call.record,
            call.occurred_at,
        )

    async def spent_on(self, day: date) -> Decimal:
        """The estimated cost of every call of ``day`` (UTC); calls of unpriced models count nothing."""
        start = datetime.combine(day, time(), UTC)
        spent = await self._pool.fetchval(
            "SELECT COALESCE(sum(cost), 0) FROM llm.calls WHERE occurred_at >= $1 AND occurred_at < $2",
            start,
            start + timedelta(days=1),
        )
        return Decimal(spent)

    async def budget_crossings_told(self, day: date) -> set[int]:
        """The thresholds (percent) of ``day``'s budget already told on the bus."""
        rows = await self._pool.fetch("SELECT threshold_percent FROM llm.budget_crossings WHERE day = $1", day)
        return {int(row["threshold_percent"]) for row in rows}

    async def budget_crossing_told(self, day: date, threshold_percent: int, *, spent: Decimal, budget: Decimal) -> None:
        """Remember that the crossing of ``threshold_percent`` on ``day`` was told (idempotent)."""
        await self._pool.execute(
            "INSERT INTO llm.budget_crossings (day, threshold_percent, spent, budget) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT (day, threshold_percent) DO NOTHING",
            day,
            threshold_percent,
            spent,
            budget,
        )

    async def calls(
        self, *, execution_id: UUID | None = None, strategy_id: UUID | None = None, limit: int = 100
    ) -> list[CallRecord]:
        """Recorded calls, oldest first, of one execution and/or one strategy."""
        rows = await self._pool.fetch(
            f"SELECT {_CALL_COLUMNS} FROM llm.calls"
            " WHERE ($1::uuid IS NULL OR execution_id = $1) AND ($2::uuid IS NULL OR strategy_id = $2)"
            " ORDER BY occurred_at, id LIMIT $3",
            execution_id,
            strategy_id,
            limit,
        )
        return [CallRecord(**dict(row)) for row in rows]

    async def cached_reply(self, key: str, *, execution_id: UUID, any_execution: bool) -> CachedReply | None:
        """The cached reply for ``key`` (counting the hit), or None.

        Only a reply first given to ``execution_id`` counts, unless ``any_execution``.
        """
        row = await self._pool.fetchrow(
            "UPDATE llm.response_cache SET hits = hits + 1, last_hit_at = now()"
            " WHERE key = $1 AND ($3 OR execution_id = $2)"
            " RETURNING key, model, reply, tokens_in, tokens_out, execution_id, created_at",
            key,
            execution_id,
            any_execution,
        )
        return CachedReply(**dict(row)) if row else None

    async def store_reply(
        self, key: str, *, model: str, reply: str, tokens_in: int, tokens_out: int, execution_id: UUID
    ) -> None:
        """Cache a valid reply; the first one stored for a key stays."""
        await self._pool.execute(
            "INSERT INTO llm.response_cache (key, model, reply, tokens_in, tokens_out, execution_id)"
            " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (key) DO NOTHING",
            key,
            model,
            reply,
            tokens_in,
            tokens_out,
            execution_id,
        )

    async def usage(
        self,
        *,
        since: datetime,
        until: datetime,
        strategy_id: UUID | None = None,
        model: str | None = None,
    ) -> list[UsageRow]:
        """Calls, tokens and cost from ``since`` (inclusive) to ``until`` (exclusive), per UTC day,
        strategy and model; newest day first."""
        rows = await self._pool.fetch(
            "SELECT (c.occurred_at AT TIME ZONE 'UTC')::date AS day, c.strategy_id, s.name AS strategy_name,"
            " c.model, count(*) AS calls, count(*) FILTER (WHERE c.cached) AS cached_calls,"
            " count(*) FILTER (WHERE c.status = 'failed') AS failed_calls,"
            " COALESCE(sum(c.tokens_in), 0) AS tokens_in, COALESCE(sum(c.tokens_out), 0) AS tokens_out,"
            " COALESCE(sum(c.cost), 0) AS cost,"
            " count(*) FILTER (WHERE c.cost IS NULL AND c.tokens_in + c.tokens_out > 0) AS unpriced_calls"
            " FROM llm.calls c LEFT JOIN gateway.strategies s ON s.id = c.strategy_id"
            " WHERE c.occurred_at >= $1 AND c.occurred_at < $2"
            " AND ($3::uuid IS NULL OR c.strategy_id = $3) AND ($4::text IS NULL OR c.model = $4)"
            " GROUP BY 1, c.strategy_id, s.name, c.model ORDER BY 1 DESC, s.name, c.model",
            since,
            until,
            strategy_id,
            model,
        )
        return [
            UsageRow(
                day=row["day"],
                strategy_id=row["strategy_id"],
                strategy_name=row["strategy_name"],
                model=row["model"],
                calls=int(row["calls"]),
                cached_calls=int(row["cached_calls"]),
                failed_calls=int(row["failed_calls"]),
                tokens_in=int(row["tokens_in"]),
                tokens_out=int(row["tokens_out"]),
                cost=Decimal(row["cost"]),
                unpriced_calls=int(row["unpriced_calls"]),
            )
            for row in rows
        ]
