"""The broker engine beyond the happy path: duplicates, expiry, auto-halt, restarts and the outbox."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any
from uuid import uuid4

import asyncpg
from faststream.nats import NatsBroker
from nats.aio.client import Client as NatsClient

from tradelane.contracts import subjects
from tradelane.contracts.events import Action
from tradelane.contracts.strategy import AssetType, SymbolRef
from tradelane.contracts.trading import (
    CancelOrder,
    ManualOrder,
    OrderRole,
    OrderSide,
    OrderStatus,
    OrderType,
    PlaceOrder,
    TimeInForce,
    TradingLimits,
    TradingState,
)
from tradelane.store.book import controls
from tradelane.store.book.transactions import BookRepository
from tradelane.store.strategies import StrategyRepository
from tradelane.trading.orders import plan_for_signal

from .support import (
    AAPL,
    BTC,
    NOW,
    Clock,
    PaperTrading,
    bar,
    signal_generated,
    start_paper_broker,
    trading_events,
)

BTC_REF = SymbolRef(symbol="BTC", exchange="PAXOS", asset_type=AssetType.CRYPTO)


def manual(client_order_id: str, **fields: object) -> PlaceOrder:
    order = ManualOrder.model_validate({"instrument": BTC_REF, "side": "BUY", "quantity": "0.1", **fields})
    return PlaceOrder(order=order, client_order_id=client_order_id)


async def test_a_second_signal_in_the_same_direction_is_refused_as_a_duplicate(paper: PaperTrading) -> None:
    strategy_id = uuid4()
    await paper.on_signal(signal_generated(strategy_id=strategy_id))

    [repeated] = await paper.on_signal(signal_generated(strategy_id=strategy_id))

    assert repeated.status is OrderStatus.REJECTED
    assert repeated.reject_rule == "duplicate_signal"


async def test_a_signal_is_no_duplicate_once_the_earlier_bracket_has_exited(paper: PaperTrading) -> None:
    strategy_id = uuid4()
    await paper.on_signal(signal_generated(strategy_id=strategy_id))
    paper.clock.advance(minutes=2)
    await paper.engine.on_bars(BTC, (bar(NOW + timedelta(minutes=1), 60100, 60700, 60050, 60650),))

    again = signal_generated(
        strategy_id=strategy_id, at=paper.clock.now, entry="60650", stop="60350", targets=("61250",)
    )
    group = await paper.on_signal(again)

    assert group[0].status is OrderStatus.FILLED


async def test_another_strategy_on_the_same_instrument_is_no_duplicate(paper: PaperTrading) -> None:
    await paper.on_signal(signal_generated())
    group = await paper.on_signal(signal_generated())
    assert group[0].reject_rule != "duplicate_signal"


async def test_an_expired_signal_is_recorded_as_refused(paper: PaperTrading) -> None:
    paper.clock.advance(hours=25)
    [order] = await paper.on_signal(signal_generated())
    assert (order.status, order.reject_rule) == (OrderStatus.REJECTED, "signal_expired")


async def test_replays_are_paper_traded_when_asked(
    repository: BookRepository, nats_broker: NatsBroker, clock: Clock, strategies: StrategyRepository
) -> None:
    book = await start_paper_broker(repository, nats_broker, clock, strategies, trade_replays=True)
    group = await book.on_signal(signal_generated(replay_of=uuid4()))
    assert group[0].status is OrderStatus.FILLED


async def test_a_limit_entry_away_from_the_market_rests_until_a_bar_reaches_it(paper: PaperTrading) -> None:
    await paper.repository.upsert_instrument(BTC, Decimal(60_500), NOW)
    group = await paper.on_signal(signal_generated(entry="60000"))
    assert group[0].status is OrderStatus.ACCEPTED
    assert group[1].working_since is None  # children wait for the entry

    paper.clock.advance(minutes=2)
    await paper.engine.on_bars(BTC, (bar(NOW + timedelta(minutes=1), 60400, 60450, 59950, 60100),))

    after = await paper.repository.group(group[0].group_ref)
    assert after[0].status is OrderStatus.FILLED
    assert after[1].working_since == paper.clock.now


async def test_cancelling_an_unfilled_entry_cancels_its_bracket(paper: PaperTrading) -> None:
    await paper.repository.upsert_instrument(BTC, Decimal(60_500), NOW)
    group = await paper.on_signal(signal_generated(entry="60000"))

    reply = await paper.engine.cancel(CancelOrder(order_id=group[0].id))

    assert reply.outcome == "cancelled"
    after = await paper.repository.group(group[0].group_ref)
    assert [order.status for order in after] == [OrderStatus.CANCELLED] * 3


async def test_an_ioc_order_that_cannot_fill_at_once_is_cancelled(paper: PaperTrading) -> None:
    await paper.repository.upsert_instrument(BTC, Decimal(60_000), NOW)
    reply = await paper.engine.place_manual(manual("ioc", order_type="LMT", limit_price="59000", tif="IOC"))
    [order] = await paper.repository.group(reply.client_ref)
    assert order.status is OrderStatus.CANCELLED
    assert order.reason == "IOC: not marketable on arrival"


async def test_a_day_order_expires_when_its_trading_day_ends(paper: PaperTrading) -> None:
    await paper.repository.upsert_instrument(BTC, Decimal(60_000), NOW)
    reply = await paper.engine.place_manual(manual("day", order_type="LMT", limit_price="59000", tif="DAY"))
    await paper.engine.housekeeping()
    assert (await paper.repository.group(reply.client_ref))[0].status is OrderStatus.ACCEPTED

    paper.clock.now = NOW.replace(hour=0) + timedelta(days=1)
    await paper.engine.housekeeping()

    [order] = await paper.repository.group(reply.client_ref)
    assert order.status is OrderStatus.CANCELLED
    assert order.reason is not None
    assert order.reason.startswith("DAY order expired")


async def test_an_instrument_the_broker_has_never_seen_is_refused(paper: PaperTrading) -> None:
    reply = await paper.engine.place_manual(manual("unknown"))
    assert (reply.outcome, reply.rule) == ("rejected", "unknown_instrument")


async def test_a_manual_market_order_without_a_price_is_refused(paper: PaperTrading) -> None:
    await paper.repository.remember_instrument(AAPL, None, NOW)
    reply = await paper.engine.place_manual(
        PlaceOrder(
            order=ManualOrder(
                instrument=SymbolRef(symbol="AAPL", conid=AAPL.conid), side=OrderSide.BUY, quantity=Decimal(1)
            ),
            client_order_id="no-price",
        )
    )
    assert (reply.outcome, reply.rule) == ("rejected", "no_market_price")


async def test_the_daily_loss_limit_halts_trading_by_itself_with_the_reason(
    paper: PaperTrading, pool: asyncpg.Pool[Any]
) -> None:
    await controls.set_limits(pool, TradingLimits(daily_loss_limit=Decimal(500)), "test")
    await paper.on_signal(signal_generated(entry="60000", stop="58000", targets=("62000",)))
    paper.clock.advance(minutes=2)

    await paper.engine.on_bars(BTC, (bar(NOW + timedelta(minutes=1), 59000, 59100, 58500, 58600),))

    risk = await paper.repository.risk()
    assert risk.state is TradingState.HALTED
    assert risk.changed_by == "risk-engine"
    assert "daily loss limit reached" in risk.reason
    [refused] = await paper.on_signal(signal_generated(action=Action.SELL, entry="58600", stop="59000"))
    assert refused.reject_rule == "trading_halted"


async def test_the_daily_loss_halt_publishes_the_state_change_once(
    paper: PaperTrading, pool: asyncpg.Pool[Any], nats_client: NatsClient
) -> None:
    """The halt's TradingStateChanged leaves through the outbox, committed with the halt; a later bar adds none."""
    await controls.set_limits(pool, TradingLimits(daily_loss_limit=Decimal(500)), "test")
    await paper.on_signal(signal_generated(entry="60000", stop="58000", targets=("62000",)))
    paper.clock.advance(minutes=2)

    await paper.engine.on_bars(BTC, (bar(NOW + timedelta(minutes=1), 59000, 59100, 58500, 58600),))
    paper.clock.advance(minutes=1)
    await paper.engine.on_bars(BTC, (bar(NOW + timedelta(minutes=2), 58600, 58700, 58000, 58100),))

    [change] = [
        body for subject, body in await trading_events(nats_client) if subject == subjects.TRADING_STATE_CHANGED
    ]
    assert (change["previous_state"], change["state"], change["changed_by"]) == ("ACTIVE", "HALTED", "risk-engine")
    assert change["reason"] == (await paper.repository.risk()).reason
    assert await paper.repository.unpublished() == []


async def test_a_scheduled_snapshot_records_the_portfolio(paper: PaperTrading) -> None:
    await paper.engine.take_snapshot()
    [snapshot] = await paper.repository.snapshots(NOW - timedelta(days=1))
    assert (snapshot.reason, snapshot.equity, snapshot.daily_pnl) == ("schedule", Decimal(100_000), Decimal(0))


async def test_daily_pnl_counts_from_the_last_snapshot_before_midnight(paper: PaperTrading) -> None:
    await paper.engine.take_snapshot()
    await paper.on_signal(signal_generated())
    paper.clock.now = NOW + timedelta(days=1)
    await paper.repository.upsert_instrument(BTC, Decimal(60_100), paper.clock.now)

    portfolio = await paper.repository.portfolio(paper.clock.now.replace(hour=0))

    assert portfolio is not None
    assert portfolio.day_start_equity == Decimal(100_000)  # the fill's snapshot, valued at 60,000
    assert portfolio.daily_pnl == Decimal("0.4166") * 100


async def test_a_restart_sends_an_order_that_was_recorded_but_never_acknowledged(
    repository: BookRepository, nats_broker: NatsBroker, clock: Clock, strategies: StrategyRepository
) -> None:
    """As if the broker died between recording the bracket and the venue taking it."""
    first = await start_paper_broker(repository, nats_broker, clock, strategies)
    signal = signal_generated()
    plan = plan_for_signal(signal, "LMT", TimeInForce.DAY)
    await repository.remember_instrument(BTC, Decimal(60_000), NOW)
    async with repository.transaction() as tx:
        await first.engine.placement.decide(tx, plan, NOW)
        await tx.claim_unsent(plan.group_ref)

    restarted = await start_paper_broker(repository, nats_broker, clock, strategies)
    await restarted.on_signal(signal)  # and JetStream redelivers the signal

    group = await repository.group(plan.group_ref)
    assert [order.status for order in group] == [OrderStatus.FILLED, OrderStatus.ACCEPTED, OrderStatus.ACCEPTED]
    assert len(await repository.fills(plan.group_ref)) == 1
    assert {record.kind for record in await repository.reconciliations()} == {"resent"}


async def test_events_committed_but_not_published_are_published_at_start(
    repository: BookRepository,
    nats_broker: NatsBroker,
    clock: Clock,
    nats_client: NatsClient,
    strategies: StrategyRepository,
) -> None:
    plan = plan_for_signal(signal_generated(), "LMT", TimeInForce.DAY)
    book = await start_paper_broker(repository, nats_broker, clock, strategies)
    await repository.upsert_instrument(BTC, Decimal(60_000), NOW)
    async with repository.transaction() as tx:
        await book.engine.placement.decide(tx, plan, NOW)

    await start_paper_broker(repository, nats_broker, clock, strategies)

    published = [subject for subject, _ in await trading_events(nats_client)]
    assert published[:3] == [subjects.ORDER_SUBMITTED] * 3
    assert await repository.unpublished() == []


async def test_a_bracket_child_fills_against_later_bars_only_once(paper: PaperTrading) -> None:
    group = await paper.on_signal(signal_generated())
    paper.clock.advance(minutes=3)
    bars = (
        bar(NOW + timedelta(minutes=1), 60100, 60700, 60050, 60650),
        bar(NOW + timedelta(minutes=2), 60650, 60800, 60600, 60700),
    )
    await paper.engine.on_bars(BTC, bars)
    await paper.engine.on_bars(BTC, bars)

    take_profit = next(order for order in group if order.ticket.role is OrderRole.TAKE_PROFIT)
    assert len(await paper.repository.fills(take_profit.client_ref)) == 1
    assert take_profit.ticket.order_type is OrderType.LIMIT
