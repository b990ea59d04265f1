"""The book (schema ``broker``): orders, fills, positions, cash, snapshots, risk state and the outbox.

The broker service writes it inside :meth:`BrokerRepository.transaction`, which serialises every
change to the book behind one advisory lock, so a risk check and the order it approves see the
same positions even with several broker replicas. The gateway reads it, and writes only the risk
limits and the trading state (so the kill switch works even while the broker is down).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, TypeAlias
from uuid import UUID

import asyncpg

from tradelane.contracts.envelope import Envelope
from tradelane.contracts.market import ResolvedSymbol
from tradelane.contracts.trading import (
    Fill,
    OrderRole,
    OrderSide,
    OrderStatus,
    OrderTicket,
    OrderType,
    TimeInForce,
    TradingLimits,
    TradingMode,
    TradingState,
    Venue,
)

_BOOK_LOCK = 7_311_005
_CENT = Decimal("0.01")
Connection: TypeAlias = "asyncpg.Connection[Any] | asyncpg.pool.PoolConnectionProxy[Any]"
OrderSource = Literal["signal", "manual"]
SnapshotReason = Literal["schedule", "fill", "reconcile"]
WORKING_STATUSES: tuple[str, ...] = (
    OrderStatus.PENDING_SUBMIT,
    OrderStatus.ACCEPTED,
    OrderStatus.PARTIALLY_FILLED,
    OrderStatus.PENDING_CANCEL,
)


class BookBelongsToAnotherVenueError(RuntimeError):
    """The book in the database was kept for another venue or mode than the broker now runs with."""


@dataclass(frozen=True)
class OrderRecord:
    """An order as the book holds it: the ticket sent to the venue plus where it stands."""

    id: UUID
    ticket: OrderTicket
    group_ref: str
    source: OrderSource
    venue: Venue
    execution_id: UUID
    strategy_id: UUID
    signal_id: UUID | None
    causation_id: UUID | None
    status: OrderStatus
    filled_quantity: Decimal = Decimal(0)
    average_price: Decimal | None = None
    commission: Decimal = Decimal(0)
    broker_order_id: str | None = None
    reject_rule: str | None = None
    reject_code: int | None = None
    reason: str | None = None
    sizing: str = ""
    working_since: datetime | None = None
    """Since when the order can execute (a bracket child: once its entry filled); None while it cannot."""
    sent_at: datetime | None = None
    """When it was handed to the venue; None while it never was."""
    replay_of: UUID | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def client_ref(self) -> str:
        return self.ticket.client_ref

    @property
    def remaining(self) -> Decimal:
        return self.ticket.quantity - self.filled_quantity


@dataclass(frozen=True)
class PositionRecord:
    """One instrument's position with its latest mark (None when no price was ever seen)."""

    instrument: ResolvedSymbol
    quantity: Decimal
    average_cost: Decimal
    realized_pnl: Decimal
    opened_at: datetime | None
    updated_at: datetime
    mark_price: Decimal | None = None
    marked_at: datetime | None = None

    @property
    def valuation_price(self) -> Decimal:
        """The mark, or the average cost when there is none (so an unpriced position shows no P&L)."""
        return self.mark_price if self.mark_price is not None else self.average_cost

    @property
    def market_value(self) -> Decimal:
        return (self.quantity * self.valuation_price).quantize(_CENT)

    @property
    def unrealized_pnl(self) -> Decimal:
        return (self.quantity * (self.valuation_price - self.average_cost)).quantize(_CENT)


@dataclass(frozen=True)
class AccountRecord:
    venue: Venue
    mode: TradingMode
    account_id: str
    currency: str
    initial_cash: Decimal
    cash: Decimal
    connected: bool
    updated_at: datetime


@dataclass(frozen=True)
class Portfolio:
    """The account valued at the latest marks."""

    cash: Decimal
    equity: Decimal
    market_value: Decimal
    gross_exposure: Decimal
    realized_pnl: Decimal
    unrealized_pnl: Decimal
    open_positions: int
    day_start_equity: Decimal
    initial_cash: Decimal

    @property
    def daily_pnl(self) -> Decimal:
        """Equity now minus equity at the start of the UTC day."""
        return self.equity - self.day_start_equity

    @property
    def total_pnl(self) -> Decimal:
        return self.equity - self.initial_cash

    @property
    def return_pct(self) -> Decimal:
        if not self.initial_cash:
            return Decimal(0)
        return (self.total_pnl / self.initial_cash * 100).quantize(Decimal("0.0001"))


def value_portfolio(
    account: AccountRecord, positions: Sequence[PositionRecord], day_start_equity: Decimal | None
) -> Portfolio:
    """Cash, equity and P&L of ``account`` holding ``positions`` (equity = cash + sum of position values)."""
    market_value = sum((position.market_value for position in positions), Decimal(0))
    equity = account.cash + market_value
    return Portfolio(
        cash=account.cash,
        equity=equity,
        market_value=market_value,
        gross_exposure=sum((abs(position.market_value) for position in positions), Decimal(0)),
        realized_pnl=sum((position.realized_pnl for position in positions), Decimal(0)),
        unrealized_pnl=sum((position.unrealized_pnl for position in positions), Decimal(0)),
        open_positions=sum(1 for position in positions if position.quantity != 0),
        day_start_equity=day_start_equity if day_start_equity is not None else account.initial_cash,
        initial_cash=account.initial_cash,
    )


@dataclass(frozen=True)
class SnapshotRecord:
    taken_at: datetime
    reason: SnapshotReason
    cash: Decimal
    equity: Decimal
    gross_exposure: Decimal
    realized_pnl: Decimal
    unrealized_pnl: Decimal
    daily_pnl: Decimal
    open_positions: int


@dataclass(frozen=True)
class RiskRecord:
    state: TradingState
    reason: str
    changed_by: str
    changed_at: datetime
    limits: TradingLimits


@dataclass(frozen=True)
class ReconciliationRecord:
    at: datetime
    kind: str
    client_ref: str | None
    conid: int | None
    detail: str


@dataclass(frozen=True)
class OutboxEntry:
    sequence: int
    subject: str
    payload: dict[str, Any]


def _instrument(value: dict[str, Any]) -> ResolvedSymbol:
    return ResolvedSymbol.model_validate(value)


def _order(row: asyncpg.Record) -> OrderRecord:
    return OrderRecord(
        id=row["id"],
        ticket=OrderTicket(
            client_ref=row["client_ref"],
            instrument=_instrument(row["instrument"]),
            side=OrderSide(row["side"]),
            order_type=OrderType(row["order_type"]),
            quantity=row["quantity"],
            limit_price=row["limit_price"],
            stop_price=row["stop_price"],
            tif=TimeInForce(row["tif"]),
            role=OrderRole(row["role"]),
            parent_ref=row["parent_ref"],
            oca_group=row["oca_group"],
        ),
        group_ref=row["group_ref"],
        source=row["source"],
        venue=Venue(row["venue"]),
        execution_id=row["execution_id"],
        strategy_id=row["strategy_id"],
        signal_id=row["signal_id"],
        causation_id=row["causation_id"],
        status=OrderStatus(row["status"]),
        filled_quantity=row["filled_quantity"],
        average_price=row["average_price"],
        commission=row["commission"],
        broker_order_id=row["broker_order_id"],
        reject_rule=row["reject_rule"],
        reject_code=row["reject_code"],
        reason=row["reason"],
        sizing=row["sizing"],
        working_since=row["working_since"],
        sent_at=row["sent_at"],
        replay_of=row["replay_of"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _instrument_of_row(row: asyncpg.Record) -> ResolvedSymbol:
    return ResolvedSymbol(
        conid=row["conid"],
        symbol=row["symbol"],
        exchange=row["exchange"],
        currency=row["currency"],
        asset_type=row["asset_type"],
        description=row["description"],
        min_tick=float(row["min_tick"]),
    )


def _position(row: asyncpg.Record) -> PositionRecord:
    return PositionRecord(
        instrument=_instrument_of_row(row),
        quantity=row["quantity"],
        average_cost=row["average_cost"],
        realized_pnl=row["realized_pnl"],
        opened_at=row["opened_at"],
        updated_at=row["updated_at"],
        mark_price=row["last_price"],
        marked_at=row["priced_at"],
    )


def _account(row: asyncpg.Record) -> AccountRecord:
    return AccountRecord(
        venue=Venue(row["venue"]),
        mode=row["mode"],
        account_id=row["account_id"],
        currency=row["currency"],
        initial_cash=row["initial_cash"],
        cash=row["cash"],
        connected=row["connected"],
        updated_at=row["updated_at"],
    )


def _fill(row: asyncpg.Record) -> Fill:
    return Fill(
        exec_id=row["exec_id"],
        quantity=row["quantity"],
        price=row["price"],
        commission=row["commission"],
        realized_pnl=row["realized_pnl"],
        filled_at=row["filled_at"],
    )


def _snapshot(row: asyncpg.Record) -> SnapshotRecord:
    return SnapshotRecord(
        taken_at=row["taken_at"],
        reason=row["reason"],
        cash=row["cash"],
        equity=row["equity"],
        gross_exposure=row["gross_exposure"],
        realized_pnl=row["realized_pnl"],
        unrealized_pnl=row["unrealized_pnl"],
        daily_pnl=row["daily_pnl"],
        open_positions=row["open_positions"],
    )


def _risk(row: asyncpg.Record) -> RiskRecord:
    return RiskRecord(
        state=TradingState(row["state"]),
        reason=row["reason"],
        changed_by=row["changed_by"],
        changed_at=row["changed_at"],
        limits=TradingLimits.model_validate(row["limits"]),
    )


_POSITIONS = (
    "SELECT p.*, i.symbol, i.exchange, i.currency, i.asset_type, i.description, i.min_tick, i.last_price,"
    " i.priced_at FROM broker.positions p JOIN broker.instruments i USING (conid)"
)
_ENSURE_RISK = (
    "INSERT INTO broker.risk (id, state, reason, limits) VALUES (true, 'ACTIVE', 'initial state', $1)"
    " ON CONFLICT (id) DO NOTHING"
)


class _Reads:
    """Queries both the repository (on the pool) and a transaction (on its connection) answer."""

    def __init__(self, db: asyncpg.Pool[Any] | Connection) -> None:
        self._db = db

    async def order_by_ref(self, client_ref: str) -> OrderRecord | None:
        row = await self._db.fetchrow("SELECT * FROM broker.orders WHERE client_ref = $1", client_ref)
        return _order(row) if row else None

    async def order(self, order_id: UUID) -> OrderRecord | None:
        row = await self._db.fetchrow("SELECT * FROM broker.orders WHERE id = $1", order_id)
        return _order(row) if row else None

    async def group(self, group_ref: str) -> list[OrderRecord]:
        """The orders of one group (a bracket, or a single order): entry, take-profit, stop-loss."""
        rows = await self._db.fetch(
            "SELECT * FROM broker.orders WHERE group_ref = $1"
            " ORDER BY CASE role WHEN 'entry' THEN 0 WHEN 'take_profit' THEN 1 ELSE 2 END",
            group_ref,
        )
        return [_order(row) for row in rows]

    async def working_orders(self, conid: int | None = None) -> list[OrderRecord]:
        """Orders not yet filled, cancelled or rejected, oldest first (optionally of one instrument)."""
        rows = await self._db.fetch(
            "SELECT * FROM broker.orders WHERE status = ANY($1::text[]) AND ($2::bigint IS NULL OR conid = $2)"
            " ORDER BY created_at, parent_ref NULLS FIRST",
            list(WORKING_STATUSES),
            conid,
        )
        return [_order(row) for row in rows]

    async def orders(
        self,
        *,
        status: OrderStatus | None = None,
        strategy_id: UUID | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[OrderRecord]:
        """Most recent first."""
        rows = await self._db.fetch(
            "SELECT * FROM broker.orders WHERE ($1::text IS NULL OR status = $1)"
            " AND ($2::uuid IS NULL OR strategy_id = $2) ORDER BY created_at DESC, client_ref LIMIT $3 OFFSET $4",
            status,
            strategy_id,
            limit,
            offset,
        )
        return [_order(row) for row in rows]

    async def fills(self, client_ref: str) -> list[Fill]:
        rows = await self._db.fetch(
            "SELECT * FROM broker.fills WHERE client_ref = $1 ORDER BY filled_at, exec_id", client_ref
        )
        return [_fill(row) for row in rows]

    async def fill_exists(self, exec_id: str) -> bool:
        return bool(await self._db.fetchval("SELECT EXISTS (SELECT 1 FROM broker.fills WHERE exec_id = $1)", exec_id))

    async def positions(self, *, open_only: bool = False) -> list[PositionRecord]:
        rows = await self._db.fetch(
            f"{_POSITIONS} WHERE NOT $1 OR p.quantity <> 0 ORDER BY i.symbol, p.conid",
            open_only,
        )
        return [_position(row) for row in rows]

    async def position(self, conid: int) -> PositionRecord | None:
        row = await self._db.fetchrow(f"{_POSITIONS} WHERE p.conid = $1", conid)
        return _position(row) if row else None

    async def instrument(self, conid: int) -> tuple[ResolvedSymbol, Decimal | None, datetime | None] | None:
        """An instrument the broker has seen, with its last price and when."""
        row = await self._db.fetchrow("SELECT * FROM broker.instruments WHERE conid = $1", conid)
        return (_instrument_of_row(row), row["last_price"], row["priced_at"]) if row else None

    async def find_instruments(self, symbol: str, asset_type: str, currency: str) -> list[ResolvedSymbol]:
        rows = await self._db.fetch(
            "SELECT * FROM broker.instruments WHERE symbol = $1 AND asset_type = $2 AND currency = $3 ORDER BY conid",
            symbol,
            asset_type,
            currency,
        )
        return [_instrument_of_row(row) for row in rows]

    async def account(self) -> AccountRecord | None:
        row = await self._db.fetchrow("SELECT * FROM broker.account")
        return _account(row) if row else None

    async def day_start_equity(self, day_start: datetime) -> Decimal | None:
        """Equity at ``day_start``: the last snapshot before it (None when there is none)."""
        value: Decimal | None = await self._db.fetchval(
            "SELECT equity FROM broker.snapshots WHERE taken_at < $1 ORDER BY taken_at DESC, id DESC LIMIT 1",
            day_start,
        )
        return value

    async def portfolio(self, day_start: datetime) -> Portfolio | None:
        """The account valued at the latest marks; None before the broker ever started."""
        account = await self.account()
        if account is None:
            return None
        return value_portfolio(account, await self.positions(), await self.day_start_equity(day_start))

    async def risk(self) -> RiskRecord:
        """The trading state and limits (the defaults until someone changes them)."""
        row = await self._db.fetchrow("SELECT * FROM broker.risk")
        if row is None:
            await self._db.execute(_ENSURE_RISK, TradingLimits().model_dump(mode="json"))
            row = await self._db.fetchrow("SELECT * FROM broker.risk")
        assert row is not None
        return _risk(row)


class BookTransaction(_Reads):
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
        rows = await self._connection.fetch(
            "UPDATE broker.orders SET sent_at = now(), updated_at = now()"
            " WHERE group_ref = $1 AND status = 'pending_submit' AND sent_at IS NULL RETURNING *",
            group_ref,
        )
        return sorted((_order(row) for row in rows), key=lambda order: order.ticket.parent_ref is not None)

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

    async def set_trading_state(self, state: TradingState, reason: str, changed_by: str) -> RiskRecord:
        return await _set_trading_state(self._connection, state, reason, changed_by)

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


async def _set_trading_state(db: Connection, state: TradingState, reason: str, changed_by: str) -> RiskRecord:
    await db.execute(_ENSURE_RISK, TradingLimits().model_dump(mode="json"))
    row = await db.fetchrow(
        "UPDATE broker.risk SET state = $1, reason = $2, changed_by = $3, changed_at = now() RETURNING *",
        state.value,
        reason,
        changed_by,
    )
    await db.execute(
        "INSERT INTO broker.risk_events (kind, state, reason, changed_by) VALUES ('state', $1, $2, $3)",
        state.value,
        reason,
        changed_by,
    )
    assert row is not None
    return _risk(row)


class BrokerRepository(_Reads):
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
        account = _account(row)
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
            "INSERT INTO broker.instruments (conid, symbol, exchange, currency, asset_type, description, min_tick,"
            " last_price, priced_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
            " ON CONFLICT (conid) DO UPDATE SET symbol = $2, exchange = $3, currency = $4, asset_type = $5,"
            " description = $6, min_tick = $7,"
            " last_price = CASE WHEN $9::timestamptz IS NOT NULL AND (broker.instruments.priced_at IS NULL"
            "   OR broker.instruments.priced_at <= $9) THEN $8 ELSE broker.instruments.last_price END,"
            " priced_at = CASE WHEN $9::timestamptz IS NOT NULL AND (broker.instruments.priced_at IS NULL"
            "   OR broker.instruments.priced_at <= $9) THEN $9 ELSE broker.instruments.priced_at END",
            instrument.conid,
            instrument.symbol,
            instrument.exchange,
            instrument.currency,
            instrument.asset_type.value,
            instrument.description,
            Decimal(str(instrument.min_tick)),
            price,
            at,
        )

    async def remember_instrument(self, instrument: ResolvedSymbol, price: Decimal | None, at: datetime) -> None:
        """Remember an instrument; ``price`` becomes its mark only when it has none yet."""
        await self._pool.execute(
            "INSERT INTO broker.instruments (conid, symbol, exchange, currency, asset_type, description, min_tick,"
            " last_price, priced_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
            " ON CONFLICT (conid) DO UPDATE SET"
            " last_price = COALESCE(broker.instruments.last_price, $8),"
            " priced_at = COALESCE(broker.instruments.priced_at, $9)",
            instrument.conid,
            instrument.symbol,
            instrument.exchange,
            instrument.currency,
            instrument.asset_type.value,
            instrument.description,
            Decimal(str(instrument.min_tick)),
            price,
            at if price is not None else None,
        )

    async def set_trading_state(self, state: TradingState, reason: str, changed_by: str) -> RiskRecord:
        """Switch the trading state (the kill switch: HALTED), keeping the change in the history."""
        async with self._pool.acquire() as connection, connection.transaction():
            return await _set_trading_state(connection, state, reason, changed_by)

    async def set_limits(self, limits: TradingLimits, changed_by: str) -> RiskRecord:
        """Replace the risk limits, keeping the change in the history."""
        document = limits.model_dump(mode="json")
        async with self._pool.acquire() as connection, connection.transaction():
            await connection.execute(_ENSURE_RISK, document)
            row = await connection.fetchrow("UPDATE broker.risk SET limits = $1 RETURNING *", document)
            await connection.execute(
                "INSERT INTO broker.risk_events (kind, reason, changed_by, limits) VALUES ('limits', $1, $2, $3)",
                "limits replaced",
                changed_by,
                document,
            )
        assert row is not None
        return _risk(row)

    async def snapshots(self, since: datetime, limit: int = 1000) -> list[SnapshotRecord]:
        """Portfolio snapshots taken at or after ``since``, oldest first."""
        rows = await self._pool.fetch(
            "SELECT * FROM broker.snapshots WHERE taken_at >= $1 ORDER BY taken_at, id LIMIT $2", since, limit
        )
        return [_snapshot(row) for row in rows]

    async def last_snapshot_at(self) -> datetime | None:
        value: datetime | None = await self._pool.fetchval("SELECT max(taken_at) FROM broker.snapshots")
        return value

    async def reconciliations(self, limit: int = 100) -> list[ReconciliationRecord]:
        rows = await self._pool.fetch("SELECT * FROM broker.reconciliations ORDER BY id DESC LIMIT $1", limit)
        return [
            ReconciliationRecord(
                at=row["at"], kind=row["kind"], client_ref=row["client_ref"], conid=row["conid"], detail=row["detail"]
            )
            for row in rows
        ]

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
