"""The book's rows as records: one mapper per table, so every query reads a row the same way."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, TypeAlias

import asyncpg

from tradelane.contracts.book import AccountRecord, OrderRecord, ReconciliationRecord, RiskRecord, SnapshotRecord
from tradelane.contracts.market import ResolvedSymbol
from tradelane.contracts.portfolio import PositionRecord
from tradelane.contracts.trading import (
    Fill,
    OrderRole,
    OrderSide,
    OrderStatus,
    OrderTicket,
    OrderType,
    TimeInForce,
    TradingLimits,
    TradingState,
    Venue,
)

Connection: TypeAlias = "asyncpg.Connection[Any] | asyncpg.pool.PoolConnectionProxy[Any]"

POSITIONS = (
    "SELECT p.*, i.symbol, i.exchange, i.currency, i.asset_type, i.description, i.min_tick, i.last_price,"
    " i.priced_at FROM broker.positions p JOIN broker.instruments i USING (conid)"
)
"""Positions joined with their instrument and its mark, as :func:`position` reads them."""


def order(row: asyncpg.Record) -> OrderRecord:
    return OrderRecord(
        id=row["id"],
        ticket=OrderTicket(
            client_ref=row["client_ref"],
            instrument=ResolvedSymbol.model_validate(row["instrument"]),
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


def instrument(row: asyncpg.Record) -> ResolvedSymbol:
    """The instrument of a ``broker.instruments`` row (or of a row joined with one)."""
    return ResolvedSymbol(
        conid=row["conid"],
        symbol=row["symbol"],
        exchange=row["exchange"],
        currency=row["currency"],
        asset_type=row["asset_type"],
        description=row["description"],
        min_tick=float(row["min_tick"]),
    )


INSERT_INSTRUMENT = (
    "INSERT INTO broker.instruments (conid, symbol, exchange, currency, asset_type, description, min_tick,"
    " last_price, priced_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
)
"""The insert of an instrument and its mark, with the values of :func:`instrument_values`."""


def instrument_values(
    instrument: ResolvedSymbol, price: Decimal | None, at: datetime | None
) -> tuple[int, str, str, str, str, str, Decimal, Decimal | None, datetime | None]:
    """The parameters $1 to $9 of :data:`INSERT_INSTRUMENT`."""
    return (
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


def position(row: asyncpg.Record) -> PositionRecord:
    """A position read with :data:`POSITIONS`."""
    return PositionRecord(
        instrument=instrument(row),
        quantity=row["quantity"],
        average_cost=row["average_cost"],
        realized_pnl=row["realized_pnl"],
        opened_at=row["opened_at"],
        updated_at=row["updated_at"],
        mark_price=row["last_price"],
        marked_at=row["priced_at"],
    )


def account(row: asyncpg.Record) -> AccountRecord:
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


def fill(row: asyncpg.Record) -> Fill:
    return Fill(
        exec_id=row["exec_id"],
        quantity=row["quantity"],
        price=row["price"],
        commission=row["commission"],
        realized_pnl=row["realized_pnl"],
        filled_at=row["filled_at"],
    )


def snapshot(row: asyncpg.Record) -> SnapshotRecord:
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


def risk(row: asyncpg.Record) -> RiskRecord:
    return RiskRecord(
        state=TradingState(row["state"]),
        reason=row["reason"],
        changed_by=row["changed_by"],
        changed_at=row["changed_at"],
        limits=TradingLimits.model_validate(row["limits"]),
    )


def reconciliation(row: asyncpg.Record) -> ReconciliationRecord:
    return ReconciliationRecord(
        at=row["at"], kind=row["kind"], client_ref=row["client_ref"], conid=row["conid"], detail=row["detail"]
    )
