"""Reading the book: orders, fills, positions, instruments, the account, snapshots, risk state.

:class:`BookReads` never writes. The gateway gets it on the pool; the broker service reads
through the same queries on the pool (:class:`~tradelane.store.book.transactions.BookRepository`)
and inside a transaction (:class:`~tradelane.store.book.transactions.BookTransaction`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import asyncpg

from tradelane.contracts.book import AccountRecord, OrderRecord, ReconciliationRecord, RiskRecord, SnapshotRecord
from tradelane.contracts.market import ResolvedSymbol
from tradelane.contracts.portfolio import Portfolio, PositionRecord, value_portfolio
from tradelane.contracts.trading import Fill, OrderStatus
from tradelane.store.book import rows
from tradelane.store.book.controls import initial_risk
from tradelane.store.book.rows import Connection

WORKING_STATUSES: tuple[str, ...] = (
    OrderStatus.PENDING_SUBMIT,
    OrderStatus.ACCEPTED,
    OrderStatus.PARTIALLY_FILLED,
    OrderStatus.PENDING_CANCEL,
)


class BookReads:
    """Queries on the book, on the pool or on one connection (then they see its transaction)."""

    def __init__(self, db: asyncpg.Pool[Any] | Connection) -> None:
        self._db = db

    async def order_by_ref(self, client_ref: str) -> OrderRecord | None:
        row = await self._db.fetchrow("SELECT * FROM broker.orders WHERE client_ref = $1", client_ref)
        return rows.order(row) if row else None

    async def order(self, order_id: UUID) -> OrderRecord | None:
        row = await self._db.fetchrow("SELECT * FROM broker.orders WHERE id = $1", order_id)
        return rows.order(row) if row else None

    async def group(self, group_ref: str) -> list[OrderRecord]:
        """The orders of one group (a bracket, or a single order): entry, take-profit, stop-loss."""
        found = await self._db.fetch(
            "SELECT * FROM broker.orders WHERE group_ref = $1"
            " ORDER BY CASE role WHEN 'entry' THEN 0 WHEN 'take_profit' THEN 1 ELSE 2 END",
            group_ref,
        )
        return [rows.order(row) for row in found]

    async def working_orders(self, conid: int | None = None) -> list[OrderRecord]:
        """Orders not yet filled, cancelled or rejected, oldest first (optionally of one instrument)."""
        found = await self._db.fetch(
            "SELECT * FROM broker.orders WHERE status = ANY($1::text[]) AND ($2::bigint IS NULL OR conid = $2)"
            " ORDER BY created_at, parent_ref NULLS FIRST",
            list(WORKING_STATUSES),
            conid,
        )
        return [rows.order(row) for row in found]

    async def orders(
        self,
        *,
        status: OrderStatus | None = None,
        strategy_id: UUID | None = None,
        execution_id: UUID | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[OrderRecord]:
        """Most recent first."""
        found = await self._db.fetch(
            "SELECT * FROM broker.orders WHERE ($1::text IS NULL OR status = $1)"
            " AND ($2::uuid IS NULL OR strategy_id = $2) AND ($3::uuid IS NULL OR execution_id = $3)"
            " ORDER BY created_at DESC, client_ref LIMIT $4 OFFSET $5",
            status,
            strategy_id,
            execution_id,
            limit,
            offset,
        )
        return [rows.order(row) for row in found]

    async def entry_orders_of_signals(self, signal_ids: Sequence[UUID]) -> list[OrderRecord]:
        """The entry orders placed from these signals (a signal places at most one entry)."""
        found = await self._db.fetch(
            "SELECT * FROM broker.orders WHERE signal_id = ANY($1::uuid[]) AND role = 'entry' ORDER BY created_at",
            list(signal_ids),
        )
        return [rows.order(row) for row in found]

    async def fills(self, client_ref: str) -> list[Fill]:
        found = await self._db.fetch(
            "SELECT * FROM broker.fills WHERE client_ref = $1 ORDER BY filled_at, exec_id", client_ref
        )
        return [rows.fill(row) for row in found]

    async def fill_exists(self, exec_id: str) -> bool:
        return bool(await self._db.fetchval("SELECT EXISTS (SELECT 1 FROM broker.fills WHERE exec_id = $1)", exec_id))

    async def positions(self, *, open_only: bool = False) -> list[PositionRecord]:
        found = await self._db.fetch(
            f"{rows.POSITIONS} WHERE NOT $1 OR p.quantity <> 0 ORDER BY i.symbol, p.conid",
            open_only,
        )
        return [rows.position(row) for row in found]

    async def position(self, conid: int) -> PositionRecord | None:
        row = await self._db.fetchrow(f"{rows.POSITIONS} WHERE p.conid = $1", conid)
        return rows.position(row) if row else None

    async def instrument(self, conid: int) -> tuple[ResolvedSymbol, Decimal | None, datetime | None] | None:
        """An instrument the broker has seen, with its last price and when."""
        row = await self._db.fetchrow("SELECT * FROM broker.instruments WHERE conid = $1", conid)
        return (rows.instrument(row), row["last_price"], row["priced_at"]) if row else None

    async def find_instruments(self, symbol: str, asset_type: str, currency: str) -> list[ResolvedSymbol]:
        found = await self._db.fetch(
            "SELECT * FROM broker.instruments WHERE symbol = $1 AND asset_type = $2 AND currency = $3 ORDER BY conid",
            symbol,
            asset_type,
            currency,
        )
        return [rows.instrument(row) for row in found]

    async def account(self) -> AccountRecord | None:
        row = await self._db.fetchrow("SELECT * FROM broker.account")
        return rows.account(row) if row else None

    async def day_start_equity(self, day_start: datetime) -> Decimal | None:
        """Equity at ``day_start``: the last snapshot before it (None when there is none)."""
        value: Decimal | None = await self._db.fetchval(
            "SELECT equity FROM broker.snapshots WHERE taken_at < $1 ORDER BY taken_at DESC, id DESC LIMIT 1",
            day_start,
        )
        return value

    async def portfolio(self, day_start: datetime) -> Portfolio | None:
        """The account and positions, valued by :func:`~tradelane.contracts.portfolio.value_portfolio`.

        None before the broker ever started (there is no account yet).
        """
        account = await self.account()
        if account is None:
            return None
        return value_portfolio(account, await self.positions(), await self.day_start_equity(day_start))

    async def risk(self) -> RiskRecord:
        """The trading state and limits (:func:`~tradelane.store.book.controls.initial_risk` until first kept)."""
        row = await self._db.fetchrow("SELECT * FROM broker.risk")
        return rows.risk(row) if row else initial_risk()

    async def snapshots(self, since: datetime, limit: int = 1000) -> list[SnapshotRecord]:
        """Portfolio snapshots taken at or after ``since``, oldest first."""
        found = await self._db.fetch(
            "SELECT * FROM broker.snapshots WHERE taken_at >= $1 ORDER BY taken_at, id LIMIT $2", since, limit
        )
        return [rows.snapshot(row) for row in found]

    async def last_snapshot_at(self) -> datetime | None:
        value: datetime | None = await self._db.fetchval("SELECT max(taken_at) FROM broker.snapshots")
        return value

    async def reconciliations(self, limit: int = 100) -> list[ReconciliationRecord]:
        """The differences found with the venue and what was done, most recent first."""
        found = await self._db.fetch("SELECT * FROM broker.reconciliations ORDER BY id DESC LIMIT $1", limit)
        return [rows.reconciliation(row) for row in found]
