"""The signals ledger (schema ``ledger``): every signal with its provenance, as the ledger service records it.

The ledger service writes it; the gateway and the CLI read it. Rows are keyed by the signal
event's message id, so a redelivered signal adds nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from decimal import Decimal
from typing import Any, Final, Literal
from uuid import UUID

import asyncpg

SignalStatus = Literal["generated", "rejected"]
"""'generated': the signal passed every rule; 'rejected': a rule refused the candidate."""


@dataclass(frozen=True)
class LedgerSignal:
    """One signal (or rejected candidate) with its provenance, as the ledger keeps it."""

    signal_id: UUID
    """The signal event's message id (orders placed from it carry it as their ``signal_id``)."""
    execution_id: UUID
    strategy_id: UUID
    strategy_name: str
    strategy_version: int | None
    """The stored strategy version that ran; None when the strategy was edited or deleted before it was recorded."""
    replay_of: UUID | None
    status: SignalStatus
    rule: str | None
    reason: str | None
    action: str
    confidence: int
    symbol: str
    conid: int
    entry: Decimal | None
    stop: Decimal | None
    first_target: Decimal | None
    expires_at: datetime
    signal: dict[str, Any]
    """The Signal (or the rejected candidate) as published, JSON."""
    analysis: dict[str, Any]
    analyst: str | None
    model: str
    llm_provider: str | None
    prompt_template_id: UUID | None
    prompt_name: str | None
    prompt_version: int | None
    chart_sha256: str | None
    tokens_in: int
    tokens_out: int
    cost: Decimal | None
    reference_price: Decimal | None
    reference_bar_time: datetime | None
    bar_size: str
    atr: Decimal | None
    use_rth: bool
    what_to_show: str
    occurred_at: datetime


@dataclass(frozen=True)
class SignalQuery:
    """Which signals to list; every filter left at None matches all."""

    strategy_id: UUID | None = None
    symbol: str | None = None
    action: str | None = None
    status: SignalStatus | None = None
    model: str | None = None
    prompt_template_id: UUID | None = None
    prompt_version: int | None = None
    since: datetime | None = None
    until: datetime | None = None


_COLUMNS: Final = tuple(field.name for field in fields(LedgerSignal))
_SELECT: Final = ", ".join(_COLUMNS)


def _from_row(row: asyncpg.Record) -> LedgerSignal:
    return LedgerSignal(**{name: row[name] for name in _COLUMNS})


class LedgerRepository:
    """Writes the ledger idempotently and answers the gateway's and the CLI's questions."""

    def __init__(self, pool: asyncpg.Pool[Any]) -> None:
        self._pool = pool

    async def record_signal(self, signal: LedgerSignal) -> bool:
        """Record one signal; False when it was recorded before (a redelivery)."""
        placeholders = ", ".join(f"${index}" for index in range(1, len(_COLUMNS) + 1))
        inserted = await self._pool.fetchval(
            f"INSERT INTO ledger.signals ({_SELECT}) VALUES ({placeholders})"
            " ON CONFLICT (signal_id) DO NOTHING RETURNING true",
            *(getattr(signal, name) for name in _COLUMNS),
        )
        return bool(inserted)

    async def signal(self, signal_id: UUID) -> LedgerSignal | None:
        row = await self._pool.fetchrow(f"SELECT {_SELECT} FROM ledger.signals WHERE signal_id = $1", signal_id)
        return _from_row(row) if row else None

    async def signals(self, query: SignalQuery, *, limit: int = 50, offset: int = 0) -> list[LedgerSignal]:
        """Signals matching ``query``, newest first."""
        rows = await self._pool.fetch(
            f"SELECT {_SELECT} FROM ledger.signals"
            " WHERE ($1::uuid IS NULL OR strategy_id = $1)"
            " AND ($2::text IS NULL OR symbol = $2)"
            " AND ($3::text IS NULL OR action = $3)"
            " AND ($4::text IS NULL OR status = $4)"
            " AND ($5::text IS NULL OR model = $5)"
            " AND ($6::uuid IS NULL OR prompt_template_id = $6)"
            " AND ($7::integer IS NULL OR prompt_version = $7)"
            " AND ($8::timestamptz IS NULL OR occurred_at >= $8)"
            " AND ($9::timestamptz IS NULL OR occurred_at < $9)"
            " ORDER BY occurred_at DESC, signal_id LIMIT $10 OFFSET $11",
            query.strategy_id,
            query.symbol,
            query.action,
            query.status,
            query.model,
            query.prompt_template_id,
            query.prompt_version,
            query.since,
            query.until,
            limit,
            offset,
        )
        return [_from_row(row) for row in rows]
