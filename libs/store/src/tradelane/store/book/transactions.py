"""Changing the book: the broker service's transactions, its pool-level writes and the outbox.

:meth:`BookRepository.transaction` serialises every change to the book behind one advisory
lock, so a risk check and the order it approves see the same positions even with several broker
replicas. Events to publish are written to ``broker.outbox`` in the same transaction
(:meth:`BookTransaction.enqueue`) and published after commit (:meth:`BookRepository.unpublished`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg

from tradelane.contracts.book import AccountRecord, OrderRecord, SnapshotReason, TradingStateChange
from tradelane.contracts.envelope import Envelope
from tradelane.contracts.market import ResolvedSymbol
from tradelane.contracts.portfolio import Portfolio
from tradelane.contracts.trading import Fill, TradingMode, TradingState, Venue
from tradelane.store.book import rows
from tradelane.store.book.controls import change_trading_state, ensure_risk
from tradelane.store.book.reads import BookReads
from tradelane.store.book.rows import Connection

_BOOK_LOCK = 7_311_005


class BookBelongsToAnotherVenueError(RuntimeError):
    """The book in the database was kept for another venue or mode than the broker now runs with."""


@dataclass(frozen=True)
class OutboxEntry:
    sequence: int
    subject: str
    payload: dict[str, Any]


class BookTransaction(BookReads):
    """One change to the book, under the book lock; everything it wrote commits or none of it."""

    def __init__(self, connection: Connection) -> None:
        super().__init__(connection)
        self._connection = connection

    async def insert_order(self, order: OrderRecord) -> bool:
        """Record a new order; False when its client reference is already there (nothing written)."""
        ticket = order.ticket
        inserted = await self._connection.fetchval(
            "INSERT INTO broker.orders (id, client_ref, group_ref, parent_ref, oca_group, role, source, venue,"
            " execution_id, strategy_id, signal_id, causation_id, instrument, conid, side, order_type, quantity,"
            " limit_price, stop_price, tif, status, reject_rule, reject_code, reason, sizing, replay_of)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20,"
            " $21, $22, $23, $24, $25, $26) ON CONFLICT (client_ref) DO NOTHING RETURNING id",
            order.id,
            ticket.client_ref,
            order.group_ref,
            ticket.parent_ref,
            ticket.oca_group,
            ticket.role.value,
            order.source,
            order.venue.value,
            order.execution_id,
            order.strategy_id,
            order.signal_id,
            order.causation_id,
            ticket.instrument.model_dump(mode="json"),
            ticket.instrument.conid,
            ticket.side.value,
            ticket.order_type.value,
            ticket.quantity,
            ticket.limit_price,
            ticket.stop_price,
            ticket.tif.value,
            order.status.value,
            order.reject_rule,
            order.reject_code,
            order.reason,
            order.sizing,
            order.replay_of,
        )
        return inserted is not None

    async def claim_unsent(self, group_ref: str) -> list[OrderRecord]:
        """Mark the group's orders that were never handed to the venue as sent now, and return them.

        Under the book lock, so of two replicas handling the same signal only one sends each order.
        """
        claimed = await self._connection.fetch(
            "UPDATE broker.orders SET sent_at = now(), updated_at = now()"
            " WHERE group_ref = $1 AND status = 'pending_submit' AND sent_at IS NULL RETURNING *",
            group_ref,
        )
        return sorted((rows.order(row) for row in claimed), key=lambda order: order.ticket.parent_ref is not None)

    async def unsend(self, client_ref: str) -> None:
        """Forget that an order was sent (the venue never received it), so it is sent again."""
        await self._connection.execute(
            "UPDATE broker.orders SET sent_at = NULL, updated_at = now()"
            " WHERE client_ref = $1 AND status = 'pending_submit'",
            client_ref,
        )

    async def update_order(self, order: OrderRecord) -> None:
        """Store an order's progress: status, fills, venue id, rejection and working time."""
        await self._connection.execute(
            "UPDATE broker.orders SET status = $2, filled_quantity = $3, average_price = $4, commission = $5,"
            " broker_order_id = $6, reject_rule = $7, reject_code = $8, reason = $9, working_since = $10,"
            " quantity = $11, updated_at = now() WHERE client_ref = $1",
            order.client_ref,
            order.status.value,
            order.filled_quantity,
            order.average_price,
            order.commission,
            order.broker_order_id,
            order.reject_rule,
            order.reject_code,
            order.reason,
            order.working_since,
            order.ticket.quantity,
        )

    async def insert_fill(self, client_ref: str, fill: Fill) -> bool:
        """Record an execution; False when its exec_id was recorded before (a repeat)."""
        inserted = await self._connection.fetchval(
            "INSERT INTO broker.fills (exec_id, client_ref, quantity, price, commission, realized_pnl, filled_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (exec_id) DO NOTHING RETURNING exec_id",
            fill.exec_id,
            client_ref,
            fill.quantity,
            fill.price,
            fill.commission,
            fill.realized_pnl,
            fill.filled_at,
        )
        return inserted is not None

    async def save_position(
        self,
        conid: int,
        quantity: Decimal,
        average_cost: Decimal,
        realized_pnl: Decimal,
        opened_at: datetime | None,
        at: datetime,
    ) -> None:
        await self._connection.execute(
            "INSERT INTO broker.positions (conid, quantity, average_cost, realized_pnl, opened_at, updated_at)"
            " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (conid) DO UPDATE SET quantity = $2, average_cost = $3,"
            " realized_pnl = $4, opened_at = $5, updated_at = $6",
            conid,
            quantity,
            average_cost,
            realized_pnl,
            opened_at,
            at,
        )

    async def add_cash(self, amount: Decimal) -> None:
        await self._connection.execute(
            "UPDATE broker.account SET cash = cash + $1, updated_at = now()",
            amount,
        )

    async def set_cash(self, cash: Decimal) -> None:
        await self._connection.execute("UPDATE broker.account SET cash = $1, updated_at = now()", cash)

    async def set_connected(self, connected: bool) -> None:
        await self._connection.execute("UPDATE broker.account SET connected = $1, updated_at = now()", connected)

    async def insert_snapshot(self, portfolio: Portfolio, reason: SnapshotReason, at: datetime) -> None:
        await self._connection.execute(
            "INSERT INTO broker.snapshots (taken_at, reason, cash, equity, gross_exposure, realized_pnl,"
            " unrealized_pnl, daily_pnl, open_positions) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            at,
            reason,
            portfolio.cash,
            portfolio.equity,
            portfolio.gross_exposure,
            portfolio.realized_pnl,
            portfolio.unrealized_pnl,
            portfolio.daily_pnl,
            portfolio.open_positions,
        )

    async def set_trading_state(self, state: TradingState, reason: str, changed_by: str) -> TradingStateChange:
        return await change_trading_state(self._connection, state, reason, changed_by)

    async def record_reconciliation(
        self, kind: str, detail: str, *, client_ref: str | None = None, conid: int | None = None
    ) -> None:
        await self._connection.execute(
            "INSERT INTO broker.reconciliations (kind, client_ref, conid, detail) VALUES ($1, $2, $3, $4)",
            kind,
            client_ref,
            conid,
            detail,
        )

    async def enqueue(self, subject: str, event: Envelope) -> None:
        """Keep ``event`` for publishing after commit (once: a repeat of its message_id is dropped)."""
        await self._connection.execute(
            "INSERT INTO broker.outbox (message_id, subject, payload) VALUES ($1, $2, $3)"
            " ON CONFLICT (message_id) DO NOTHING",
            event.message_id,
            subject,
            event.model_dump(mode="json"),
        )


class BookRepository(BookReads):
    """Reads the book, and opens the transactions that change it."""

    def __init__(self, pool: asyncpg.Pool[Any]) -> None:
        super().__init__(pool)
        self._pool = pool

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[BookTransaction]:
        """A transaction holding the book lock: changes to the book happen one at a time."""
        async with self._pool.acquire() as connection, connection.transaction():
            await connection.execute("SELECT pg_advisory_xact_lock($1)", _BOOK_LOCK)
            yield BookTransaction(connection)

    async def open_account(
        self, venue: Venue, mode: TradingMode, account_id: str, initial_cash: Decimal, currency: str = "USD"
    ) -> AccountRecord:
        """The account row, created on first start; refuses a book kept for another venue or mode."""
        async with self._pool.acquire() as connection:
            await connection.execute(
                "INSERT INTO broker.account (venue, mode, account_id, currency, initial_cash, cash)"
                " VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (id) DO NOTHING",
                venue.value,
                mode,
                account_id,
                currency,
                initial_cash,
            )
            row = await connection.fetchrow("SELECT * FROM broker.account")
        assert row is not None
        account = rows.account(row)
        other_account = bool(account_id) and account.account_id not in {"", account_id}
        if (account.venue, account.mode) != (venue, mode) or other_account:
            msg = (
                f"the book in this database belongs to the {account.mode} {account.venue.value} account "
                f"{account.account_id or '(paper)'}, not to the {mode} {venue.value} account {account_id or '(paper)'}:"
                " use another database for another account"
            )
            raise BookBelongsToAnotherVenueError(msg)
        return account

    async def set_account_id(self, account_id: str) -> None:
        await self._pool.execute("UPDATE broker.account SET account_id = $1, updated_at = now()", account_id)

    async def upsert_instrument(self, instrument: ResolvedSymbol, price: Decimal | None, at: datetime | None) -> None:
        """Remember an instrument; its price replaces the stored one only when it is newer."""
        await self._pool.execute(
            rows.INSERT_INSTRUMENT
            + " ON CONFLICT (conid) DO UPDATE SET symbol = $2, exchange = $3, currency = $4, asset_type = $5,"
            " description = $6, min_tick = $7,"
            " last_price = CASE WHEN $9::timestamptz IS NOT NULL AND (broker.instruments.priced_at IS NULL"
            "   OR broker.instruments.priced_at <= $9) THEN $8 ELSE broker.instruments.last_price END,"
            " priced_at = CASE WHEN $9::timestamptz IS NOT NULL AND (broker.instruments.priced_at IS NULL"
            "   OR broker.instruments.priced_at <= $9) THEN $9 ELSE broker.instruments.priced_at END",
            *rows.instrument_values(instrument, price, at),
        )

    async def remember_instrument(self, instrument: ResolvedSymbol, price: Decimal | None, at: datetime) -> None:
        """Remember an instrument; ``price`` becomes its mark only when it has none yet."""
        await self._pool.execute(
            rows.INSERT_INSTRUMENT + " ON CONFLICT (conid) DO UPDATE SET"
            " last_price = COALESCE(broker.instruments.last_price, $8),"
            " priced_at = COALESCE(broker.instruments.priced_at, $9)",
            *rows.instrument_values(instrument, price, at if price is not None else None),
        )

    async def ensure_risk(self) -> None:
        """Keep the initial risk controls, so the state and limits the broker starts with have a first change."""
        await ensure_risk(self._pool)

    async def unpublished(self, limit: int = 500) -> list[OutboxEntry]:
        """Events committed but not yet published, in the order they were written."""
        rows = await self._pool.fetch(
            "SELECT sequence, subject, payload FROM broker.outbox WHERE published_at IS NULL"
            " ORDER BY sequence LIMIT $1",
            limit,
        )
        return [OutboxEntry(sequence=row["sequence"], subject=row["subject"], payload=row["payload"]) for row in rows]

    async def mark_published(self, sequences: Sequence[int]) -> None:
        await self._pool.execute(
            "UPDATE broker.outbox SET published_at = now() WHERE sequence = ANY($1::bigint[])", list(sequences)
        )
