"""The signals ledger (schema ``ledger``): every signal with its provenance and outcomes.

The ledger service writes it (and the gateway a manual outcome); the gateway and the CLI read
it. Signals are keyed by the signal event's message id, fills by the venue's execution id and
outcomes by signal and source, so a redelivered message adds nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from decimal import Decimal
from typing import Any, Final, Literal
from uuid import UUID

import asyncpg

from tradelane.contracts.outcomes import OutcomeRecorded, OutcomeSource
from tradelane.contracts.performance import ScoredSignal

SignalStatus = Literal["generated", "rejected"]
"""'generated': the signal passed every rule; 'rejected': a rule refused the candidate."""
SOURCE_PRECEDENCE: Final[tuple[OutcomeSource, ...]] = ("manual", "traded", "shadow")
"""Which outcome counts when a signal has several: a person's word, then the fills, then the bars."""
_TERMINAL_ORDER_STATUSES: Final = ("filled", "cancelled", "rejected")
_STATUS_RANK: Final = (
    "CASE {0} WHEN 'pending_submit' THEN 0 WHEN 'accepted' THEN 1 WHEN 'pending_cancel' THEN 2"
    " WHEN 'partially_filled' THEN 3 ELSE 4 END"
)
"""How far an order status is along: a late event never moves an order back."""


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


@dataclass(frozen=True)
class LedgerOutcome:
    """One outcome of a signal, as recorded (the fields of ``OutcomeRecorded``)."""

    signal_id: UUID
    source: OutcomeSource
    message_id: UUID
    kind: str
    hit: bool | None
    exit_price: Decimal | None
    exit_at: datetime | None
    r_multiple: Decimal | None
    mfe_r: Decimal | None
    mae_r: Decimal | None
    pnl: Decimal | None
    fees: Decimal | None
    quantity: Decimal | None
    bars: int
    note: str
    recorded_by: str | None
    occurred_at: datetime

    @classmethod
    def of(cls, event: OutcomeRecorded) -> LedgerOutcome:
        """The row of an outcome event."""
        return cls(
            signal_id=event.signal_id,
            source=event.source,
            message_id=event.message_id,
            kind=event.kind.value,
            hit=event.hit,
            exit_price=event.exit_price,
            exit_at=event.exit_at,
            r_multiple=event.r_multiple,
            mfe_r=event.mfe_r,
            mae_r=event.mae_r,
            pnl=event.pnl,
            fees=event.fees,
            quantity=event.quantity,
            bars=event.bars,
            note=event.note,
            recorded_by=event.recorded_by,
            occurred_at=event.occurred_at,
        )


@dataclass(frozen=True)
class LedgerFill:
    """One fill of an order placed from a signal."""

    exec_id: str
    client_ref: str
    signal_id: UUID
    role: str
    quantity: Decimal
    price: Decimal
    commission: Decimal
    filled_at: datetime


@dataclass(frozen=True)
class SignalTrade:
    """What the broker did with a signal: its entry order's status and every fill of its orders."""

    entry_status: str | None
    fills: list[LedgerFill]

    @property
    def entry_done(self) -> bool:
        """The entry order can fill no more."""
        return self.entry_status in _TERMINAL_ORDER_STATUSES


def effective_outcome(outcomes: list[LedgerOutcome]) -> LedgerOutcome | None:
    """The outcome that counts among a signal's (see :data:`SOURCE_PRECEDENCE`)."""
    by_source = {outcome.source: outcome for outcome in outcomes}
    return next((by_source[source] for source in SOURCE_PRECEDENCE if source in by_source), None)


def _columns(record: type[object]) -> tuple[str, ...]:
    return tuple(field.name for field in fields(record))  # type: ignore[arg-type]


_COLUMNS: Final = _columns(LedgerSignal)
_SELECT: Final = ", ".join(_COLUMNS)
_OUTCOME_COLUMNS: Final = _columns(LedgerOutcome)
_FILL_COLUMNS: Final = _columns(LedgerFill)


def _placeholders(count: int) -> str:
    return ", ".join(f"${index}" for index in range(1, count + 1))


def _from_row(row: asyncpg.Record) -> LedgerSignal:
    return LedgerSignal(**{name: row[name] for name in _COLUMNS})


def _outcome(row: asyncpg.Record) -> LedgerOutcome:
    return LedgerOutcome(**{name: row[name] for name in _OUTCOME_COLUMNS})


class LedgerRepository:
    """Writes the ledger idempotently and answers the gateway's and the CLI's questions."""

    def __init__(self, pool: asyncpg.Pool[Any]) -> None:
        self._pool = pool

    async def record_signal(self, signal: LedgerSignal, next_check_at: datetime | None = None) -> bool:
        """Record one signal, to be looked at for its shadow outcome from ``next_check_at`` (None: never; nor
        when its entry has filled already). False when it was recorded before (a redelivery).
        """
        count = len(_COLUMNS)
        inserted = await self._pool.fetchval(
            f"INSERT INTO ledger.signals ({_SELECT}, next_check_at) SELECT {_placeholders(count)},"
            # an entry fill heard before the signal: it was traded, its outcome comes from its fills
            f" CASE WHEN EXISTS (SELECT 1 FROM ledger.fills WHERE signal_id = $1 AND role = 'entry')"
            f" THEN NULL ELSE ${count + 1}::timestamptz END"
            " ON CONFLICT (signal_id) DO NOTHING RETURNING true",
            *(getattr(signal, name) for name in _COLUMNS),
            next_check_at,
        )
        return bool(inserted)

    async def due_for_shadow_outcome(self, now: datetime, limit: int) -> list[LedgerSignal]:
        """Signals whose shadow outcome is due a look: no automatic outcome yet, and not traded.

        A signal is traded once its entry order filled (at all); while its entry order works, it may
        still be. A signal whose entry order was cancelled or rejected unfilled gets a shadow outcome.
        """
        rows = await self._pool.fetch(
            f"SELECT {_SELECT} FROM ledger.signals s WHERE s.next_check_at <= $1"
            " AND NOT EXISTS (SELECT 1 FROM ledger.outcomes o WHERE o.signal_id = s.signal_id AND o.source <> 'manual')"
            " AND NOT EXISTS (SELECT 1 FROM ledger.orders o WHERE o.signal_id = s.signal_id AND o.role = 'entry'"
            "  AND o.status NOT IN ('cancelled', 'rejected'))"
            " AND NOT EXISTS (SELECT 1 FROM ledger.fills f WHERE f.signal_id = s.signal_id AND f.role = 'entry')"
            " ORDER BY s.next_check_at LIMIT $2",
            now,
            limit,
        )
        return [_from_row(row) for row in rows]

    async def check_again_at(self, signal_id: UUID, at: datetime | None) -> None:
        """Look at ``signal_id``'s shadow outcome again at ``at`` (None: no more)."""
        await self._pool.execute("UPDATE ledger.signals SET next_check_at = $2 WHERE signal_id = $1", signal_id, at)

    async def record_order(self, client_ref: str, signal_id: UUID, role: str, status: str) -> None:
        """Record an order's status from one of its events; an event older than the status known changes nothing."""
        await self._pool.execute(
            "INSERT INTO ledger.orders (client_ref, signal_id, role, status) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT (client_ref) DO UPDATE SET status = EXCLUDED.status, updated_at = now()"
            f" WHERE {_STATUS_RANK.format('EXCLUDED.status')} > {_STATUS_RANK.format('ledger.orders.status')}",
            client_ref,
            signal_id,
            role,
            status,
        )

    async def record_fill(self, fill: LedgerFill) -> bool:
        """Record one fill; False when it was recorded before."""
        inserted = await self._pool.fetchval(
            f"INSERT INTO ledger.fills ({', '.join(_FILL_COLUMNS)}) VALUES ({_placeholders(len(_FILL_COLUMNS))})"
            " ON CONFLICT (exec_id) DO NOTHING RETURNING true",
            *(getattr(fill, name) for name in _FILL_COLUMNS),
        )
        return bool(inserted)

    async def trade_of(self, signal_id: UUID) -> SignalTrade:
        """The entry order's status and the fills of every order placed from ``signal_id``."""
        status = await self._pool.fetchval(
            "SELECT status FROM ledger.orders WHERE signal_id = $1 AND role = 'entry'", signal_id
        )
        rows = await self._pool.fetch(
            f"SELECT {', '.join(_FILL_COLUMNS)} FROM ledger.fills WHERE signal_id = $1 ORDER BY filled_at, exec_id",
            signal_id,
        )
        return SignalTrade(status, [LedgerFill(**{name: row[name] for name in _FILL_COLUMNS}) for row in rows])

    async def record_outcome(self, outcome: LedgerOutcome) -> bool:
        """Record an outcome; False when it changed nothing.

        An automatic outcome (traded, shadow) is written once. A manual one replaces an earlier manual
        one of the signal when it is newer (a correction); a redelivered older one changes nothing.
        """
        updates = ", ".join(f"{name} = EXCLUDED.{name}" for name in _OUTCOME_COLUMNS[2:])
        written = await self._pool.fetchval(
            f"INSERT INTO ledger.outcomes ({', '.join(_OUTCOME_COLUMNS)})"
            f" VALUES ({_placeholders(len(_OUTCOME_COLUMNS))})"
            f" ON CONFLICT (signal_id, source) DO UPDATE SET {updates}, recorded_at = now()"
            " WHERE ledger.outcomes.source = 'manual' AND EXCLUDED.occurred_at > ledger.outcomes.occurred_at"
            " RETURNING true",
            *(getattr(outcome, name) for name in _OUTCOME_COLUMNS),
        )
        return bool(written)

    async def outcomes_of(self, signal_ids: list[UUID]) -> dict[UUID, list[LedgerOutcome]]:
        """Every outcome of each of ``signal_ids``, in the order of :data:`SOURCE_PRECEDENCE`."""
        rows = await self._pool.fetch(
            f"SELECT {', '.join(_OUTCOME_COLUMNS)} FROM ledger.outcomes WHERE signal_id = ANY($1::uuid[])",
            signal_ids,
        )
        found: dict[UUID, list[LedgerOutcome]] = {}
        for row in sorted(rows, key=lambda row: SOURCE_PRECEDENCE.index(row["source"])):
            found.setdefault(row["signal_id"], []).append(_outcome(row))
        return found

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

    async def scored_signals(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        strategy_id: UUID | None = None,
        include_replays: bool = False,
    ) -> list[ScoredSignal]:
        """Generated signals made in the window, each with the outcome that counts for it (none while it has none)."""
        rows = await self._pool.fetch(
            "SELECT s.signal_id, s.strategy_id, s.strategy_name, s.model, s.analyst, s.prompt_template_id,"
            " s.prompt_name, s.prompt_version, s.action, s.confidence, s.tokens_in, s.tokens_out, s.cost,"
            " o.hit, o.r_multiple, o.pnl, o.signal_id IS NOT NULL AS judged"
            " FROM ledger.signals s LEFT JOIN LATERAL (SELECT * FROM ledger.outcomes o"
            "  WHERE o.signal_id = s.signal_id ORDER BY array_position($5::text[], o.source) LIMIT 1) o ON true"
            " WHERE s.status = 'generated'"
            " AND ($1::timestamptz IS NULL OR s.occurred_at >= $1)"
            " AND ($2::timestamptz IS NULL OR s.occurred_at < $2)"
            " AND ($3::uuid IS NULL OR s.strategy_id = $3)"
            " AND ($4 OR s.replay_of IS NULL)",
            since,
            until,
            strategy_id,
            include_replays,
            list(SOURCE_PRECEDENCE),
        )
        return [ScoredSignal(**dict(row)) for row in rows]
