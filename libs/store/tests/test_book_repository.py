"""The book (schema broker) against a real PostgreSQL: unique orders, marks, risk state, the outbox."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import uuid4

import asyncpg
import pytest

from tradelane.contracts.book import OrderRecord
from tradelane.contracts.market import ResolvedSymbol
from tradelane.contracts.strategy import AssetType
from tradelane.contracts.trading import (
    OrderSide,
    OrderStatus,
    OrderSubmitted,
    OrderTicket,
    OrderType,
    TradingLimits,
    TradingState,
    Venue,
    order_id,
)
from tradelane.store.book import controls
from tradelane.store.book.transactions import BookBelongsToAnotherVenueError, BookRepository
from tradelane.store.pool import create_pool

AAPL = ResolvedSymbol(conid=1, symbol="AAPL", exchange="NASDAQ", currency="USD", asset_type=AssetType.STOCK)
AT = datetime(2025, 3, 4, 15, tzinfo=UTC)


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool[Any]]:
    pool: asyncpg.Pool[Any] = await create_pool(database_url)
    yield pool
    await pool.close()


@pytest.fixture
async def book(pool: asyncpg.Pool[Any]) -> BookRepository:
    repository = BookRepository(pool)
    await repository.open_account(Venue.PAPER, "paper", "", Decimal(100_000))
    await repository.remember_instrument(AAPL, Decimal(190), AT)
    return repository


def _order(client_ref: str = "tl-m-1") -> OrderRecord:
    ticket = OrderTicket(
        client_ref=client_ref, instrument=AAPL, side=OrderSide.BUY, order_type=OrderType.MARKET, quantity=Decimal(5)
    )
    return OrderRecord(
        id=order_id(client_ref),
        ticket=ticket,
        group_ref=client_ref,
        source="manual",
        venue=Venue.PAPER,
        execution_id=uuid4(),
        strategy_id=uuid4(),
        signal_id=None,
        causation_id=None,
        status=OrderStatus.PENDING_SUBMIT,
    )


async def test_an_order_is_recorded_once_per_client_reference(book: BookRepository) -> None:
    async with book.transaction() as tx:
        assert await tx.insert_order(_order())
        assert not await tx.insert_order(_order())
    assert len(await book.orders()) == 1


async def test_orders_are_listed_by_the_execution_that_placed_them(book: BookRepository) -> None:
    first, second = _order("tl-m-1"), _order("tl-m-2")
    async with book.transaction() as tx:
        await tx.insert_order(first)
        await tx.insert_order(second)
    assert [order.id for order in await book.orders(execution_id=second.execution_id)] == [second.id]
    assert await book.orders(execution_id=uuid4()) == []


async def test_only_one_caller_claims_an_unsent_order(book: BookRepository) -> None:
    async with book.transaction() as tx:
        await tx.insert_order(_order())
        [claimed] = await tx.claim_unsent("tl-m-1")
        assert claimed.sent_at is not None
        assert await tx.claim_unsent("tl-m-1") == []


async def test_an_order_read_back_is_the_order_written(book: BookRepository) -> None:
    written = _order()
    async with book.transaction() as tx:
        await tx.insert_order(written)
    read = await book.order(written.id)
    assert read is not None
    assert (read.ticket, read.status, read.execution_id) == (written.ticket, written.status, written.execution_id)


async def test_a_mark_is_only_replaced_by_a_newer_one(book: BookRepository) -> None:
    await book.upsert_instrument(AAPL, Decimal(180), AT - timedelta(minutes=1))
    await book.upsert_instrument(AAPL, Decimal(200), AT + timedelta(minutes=1))
    known = await book.instrument(AAPL.conid)
    assert known is not None
    assert known[1] == Decimal(200)


async def test_remembering_an_instrument_keeps_its_mark(book: BookRepository) -> None:
    await book.remember_instrument(AAPL, Decimal(1), AT + timedelta(days=1))
    known = await book.instrument(AAPL.conid)
    assert known is not None
    assert known[1] == Decimal(190)


async def test_a_book_kept_for_paper_refuses_to_open_for_a_live_ib_account(book: BookRepository) -> None:
    with pytest.raises(BookBelongsToAnotherVenueError, match="use another database"):
        await book.open_account(Venue.IB, "live", "U1234567", Decimal(1))


async def test_risk_starts_active_with_default_limits(book: BookRepository) -> None:
    risk = await book.risk()
    assert (risk.state, risk.limits) == (TradingState.ACTIVE, TradingLimits())


async def test_state_and_limit_changes_are_kept(book: BookRepository, pool: asyncpg.Pool[Any]) -> None:
    await controls.set_limits(pool, TradingLimits(max_open_positions=2), "api")
    halted = (await controls.set_trading_state(pool, TradingState.HALTED, "kill switch", "api")).risk
    assert (halted.state, halted.reason, halted.limits.max_open_positions) == (TradingState.HALTED, "kill switch", 2)
    async with book.transaction() as tx:
        assert (await tx.risk()).state is TradingState.HALTED


async def test_an_event_enters_the_outbox_once_and_leaves_it_when_published(book: BookRepository) -> None:
    order = _order()
    event = OrderSubmitted(
        execution_id=order.execution_id, strategy_id=order.strategy_id, client_ref=order.client_ref,
        signal_id=None, order=order.ticket, venue=Venue.PAPER,
    )  # fmt: skip
    async with book.transaction() as tx:
        await tx.enqueue("trading.order.submitted", event)
        await tx.enqueue("trading.order.submitted", event)
    [entry] = await book.unpublished()
    assert entry.payload["client_ref"] == "tl-m-1"
    await book.mark_published([entry.sequence])
    assert await book.unpublished() == []


async def test_the_portfolio_values_positions_at_their_marks(book: BookRepository) -> None:
    async with book.transaction() as tx:
        await tx.save_position(AAPL.conid, Decimal(10), Decimal(180), Decimal(0), AT, AT)
        await tx.add_cash(Decimal(-1800))
    portfolio = await book.portfolio(AT.replace(hour=0))
    assert portfolio is not None
    assert (portfolio.cash, portfolio.equity, portfolio.unrealized_pnl) == (
        Decimal(98_200),
        Decimal(100_100),
        Decimal(100),
    )
