"""``/api/positions`` and ``/api/portfolio``: the book valued at the latest marks, and its history."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Final

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, Field

from tradelane.contracts.book import SnapshotRecord
from tradelane.contracts.envelope import utc_now
from tradelane.contracts.fields import Moment, PlainDecimal
from tradelane.contracts.portfolio import PositionRecord
from tradelane.contracts.strategy import AssetType
from tradelane.contracts.trading import TradingMode, Venue, trading_day_start
from tradelane.gateway.book import Book
from tradelane.gateway.errors import BUS_UNAVAILABLE

router = APIRouter(tags=["portfolio"])

DEFAULT_SNAPSHOT_WINDOW: Final = timedelta(days=7)


class PositionOut(BaseModel):
    """One instrument's position valued at its latest mark."""

    conid: int
    symbol: str
    exchange: str
    currency: str
    asset_type: AssetType
    quantity: PlainDecimal = Field(description="Signed: negative is short; 0 once closed.")
    average_cost: PlainDecimal
    mark_price: PlainDecimal | None = Field(description="Latest price seen; null when none (valued at cost).")
    marked_at: datetime | None
    market_value: PlainDecimal
    unrealized_pnl: PlainDecimal
    realized_pnl: PlainDecimal = Field(description="Net of commissions.")
    weight_pct: PlainDecimal | None = Field(description="Market value as a percentage of equity.")
    opened_at: datetime | None

    @classmethod
    def of(cls, position: PositionRecord, equity: Decimal | None) -> PositionOut:
        instrument = position.instrument
        weight = (position.market_value / equity * 100).quantize(Decimal("0.01")) if equity else None
        return cls(
            conid=instrument.conid,
            symbol=instrument.symbol,
            exchange=instrument.exchange,
            currency=instrument.currency,
            asset_type=instrument.asset_type,
            quantity=position.quantity,
            average_cost=position.average_cost,
            mark_price=position.mark_price,
            marked_at=position.marked_at,
            market_value=position.market_value,
            unrealized_pnl=position.unrealized_pnl,
            realized_pnl=position.realized_pnl,
            weight_pct=weight,
            opened_at=position.opened_at,
        )


class PortfolioOut(BaseModel):
    """The account: which venue and mode, cash, equity and P&L."""

    venue: Venue = Field(description="'paper' (the simulator) or 'ib'.")
    mode: TradingMode = Field(description="'live' means real money on a real IB account.")
    account_id: str
    connected: bool = Field(description="Whether the broker's link to the venue is up.")
    currency: str
    initial_cash: PlainDecimal
    cash: PlainDecimal
    market_value: PlainDecimal
    equity: PlainDecimal = Field(description="Cash plus the market value of every position.")
    gross_exposure: PlainDecimal = Field(description="Sum of |position market value|.")
    realized_pnl: PlainDecimal
    unrealized_pnl: PlainDecimal
    total_pnl: PlainDecimal = Field(description="Equity minus initial cash.")
    daily_pnl: PlainDecimal = Field(description="Equity minus equity at the start of the UTC day.")
    return_pct: PlainDecimal = Field(description="Total P&L as a percentage of initial cash.")
    open_positions: int
    as_of: datetime


class SnapshotOut(BaseModel):
    taken_at: datetime
    reason: str = Field(description="'fill', 'schedule' or 'reconcile'.")
    cash: PlainDecimal
    equity: PlainDecimal
    gross_exposure: PlainDecimal
    realized_pnl: PlainDecimal
    unrealized_pnl: PlainDecimal
    daily_pnl: PlainDecimal
    open_positions: int

    @classmethod
    def of(cls, snapshot: SnapshotRecord) -> SnapshotOut:
        return cls(**snapshot.__dict__)


def no_book() -> HTTPException:
    return HTTPException(
        status.HTTP_503_SERVICE_UNAVAILABLE,
        "there is no book yet: the broker service has not started once (tradelane run broker)",
    )


@router.get("/api/positions", summary="List positions")
async def list_positions(book: Book, open_only: bool = True) -> list[PositionOut]:
    """Positions with their mark, market value and P&L; ``open_only=false`` includes closed ones."""
    portfolio = await book.portfolio(trading_day_start(utc_now()))
    equity = portfolio.equity if portfolio is not None else None
    return [PositionOut.of(position, equity) for position in await book.positions(open_only=open_only)]


@router.get("/api/portfolio", summary="The portfolio", responses=BUS_UNAVAILABLE)
async def get_portfolio(book: Book) -> PortfolioOut:
    """Value, cash, realized and unrealized P&L, today's P&L and the return, with the venue and mode."""
    now = utc_now()
    account = await book.account()
    portfolio = await book.portfolio(trading_day_start(now))
    if account is None or portfolio is None:
        raise no_book()
    return PortfolioOut(
        venue=account.venue,
        mode=account.mode,
        account_id=account.account_id,
        connected=account.connected,
        currency=account.currency,
        initial_cash=portfolio.initial_cash,
        cash=portfolio.cash,
        market_value=portfolio.market_value,
        equity=portfolio.equity,
        gross_exposure=portfolio.gross_exposure,
        realized_pnl=portfolio.realized_pnl,
        unrealized_pnl=portfolio.unrealized_pnl,
        total_pnl=portfolio.total_pnl,
        daily_pnl=portfolio.daily_pnl,
        return_pct=portfolio.return_pct,
        open_positions=portfolio.open_positions,
        as_of=now,
    )


@router.get("/api/portfolio/snapshots", summary="Portfolio snapshots over time")
async def list_snapshots(
    book: Book,
    since: Moment | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> list[SnapshotOut]:
    """Snapshots (one per fill and one on a schedule) taken since ``since`` (default: 7 days ago), oldest first."""
    start = since if since is not None else utc_now() - DEFAULT_SNAPSHOT_WINDOW
    return [SnapshotOut.of(snapshot) for snapshot in await book.snapshots(start, limit)]
