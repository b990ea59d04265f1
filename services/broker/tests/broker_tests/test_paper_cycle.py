"""Signal -> bracket -> fill -> position -> exit -> P&L on the paper venue, against real Postgres and NATS."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from uuid import uuid4

from nats.aio.client import Client as NatsClient

from tradelane.contracts import subjects
from tradelane.contracts.events import Action
from tradelane.contracts.trading import OrderRole, OrderStatus, signal_order_ref

from .support import BTC, NOW, PaperTrading, bar, signal_generated, trading_events


async def test_a_buy_signal_places_a_bracket_whose_entry_fills_at_once(paper: PaperTrading) -> None:
    group = await paper.on_signal(signal_generated())

    roles = {order.ticket.role: order for order in group}
    assert set(roles) == {OrderRole.ENTRY, OrderRole.TAKE_PROFIT, OrderRole.STOP_LOSS}
    assert roles[OrderRole.ENTRY].status is OrderStatus.FILLED
    assert roles[OrderRole.ENTRY].average_price == Decimal(60000)
    assert {roles[OrderRole.TAKE_PROFIT].status, roles[OrderRole.STOP_LOSS].status} == {OrderStatus.ACCEPTED}
    assert roles[OrderRole.TAKE_PROFIT].ticket.oca_group == roles[OrderRole.STOP_LOSS].ticket.oca_group
    assert roles[OrderRole.TAKE_PROFIT].working_since is not None


async def test_the_quantity_comes_from_risk_capped_by_the_position_notional(paper: PaperTrading) -> None:
    group = await paper.on_signal(signal_generated(entry="60000", stop="59700"))

    entry = group[0]
    assert entry.ticket.quantity == Decimal("0.4166")
    assert "floor(100000 x 0.01 / |60000 - 59700|) = 3.3333" in entry.sizing
    assert "max_position_notional" in entry.sizing


async def test_the_fill_opens_a_position_and_moves_cash(paper: PaperTrading) -> None:
    await paper.on_signal(signal_generated())

    [position] = await paper.repository.positions()
    assert position.quantity == Decimal("0.4166")
    assert position.average_cost == Decimal(60000)
    account = await paper.repository.account()
    assert account is not None
    assert account.cash == Decimal(100_000) - Decimal("0.4166") * 60000


async def test_a_bar_through_the_take_profit_closes_the_position_and_cancels_the_stop(paper: PaperTrading) -> None:
    group = await paper.on_signal(signal_generated(entry="60000", stop="59700", targets=("60600",)))
    paper.clock.advance(minutes=2)

    await paper.engine.on_bars(BTC, (bar(NOW + timedelta(minutes=1), 60100, 60700, 60050, 60650),))

    after = {order.ticket.role: order for order in await paper.repository.group(group[0].group_ref)}
    assert after[OrderRole.TAKE_PROFIT].status is OrderStatus.FILLED
    assert after[OrderRole.TAKE_PROFIT].average_price == Decimal(60600)
    assert after[OrderRole.STOP_LOSS].status is OrderStatus.CANCELLED
    [position] = await paper.repository.positions()
    assert position.quantity == 0
    assert position.realized_pnl == Decimal("0.4166") * 600


async def test_a_bar_that_started_before_the_fill_is_not_used(paper: PaperTrading) -> None:
    group = await paper.on_signal(signal_generated())

    await paper.engine.on_bars(BTC, (bar(NOW - timedelta(minutes=1), 60000, 60700, 59000, 60000),))

    after = await paper.repository.group(group[0].group_ref)
    assert [order.status for order in after[1:]] == [OrderStatus.ACCEPTED, OrderStatus.ACCEPTED]


async def test_when_one_bar_reaches_both_exits_the_stop_loss_is_taken(paper: PaperTrading) -> None:
    group = await paper.on_signal(signal_generated(entry="60000", stop="59700", targets=("60600",)))
    paper.clock.advance(minutes=2)

    await paper.engine.on_bars(BTC, (bar(NOW + timedelta(minutes=1), 60000, 60700, 59600, 60100),))

    after = {order.ticket.role: order for order in await paper.repository.group(group[0].group_ref)}
    assert after[OrderRole.STOP_LOSS].status is OrderStatus.FILLED
    assert after[OrderRole.TAKE_PROFIT].status is OrderStatus.CANCELLED
    [position] = await paper.repository.positions()
    assert position.realized_pnl == Decimal("0.4166") * -300


async def test_the_same_signal_delivered_twice_places_one_group(paper: PaperTrading) -> None:
    signal = signal_generated()

    first = await paper.on_signal(signal)
    second = await paper.on_signal(signal)

    assert [order.client_ref for order in first] == [order.client_ref for order in second]
    assert len(await paper.repository.orders()) == 3
    assert len(await paper.repository.fills(signal_order_ref(signal.message_id))) == 1


async def test_a_hold_signal_places_nothing(paper: PaperTrading) -> None:
    assert await paper.on_signal(signal_generated(action=Action.HOLD)) == []
    assert await paper.repository.orders() == []


async def test_a_strategy_without_auto_trade_places_nothing(paper: PaperTrading) -> None:
    assert await paper.on_signal(signal_generated(auto_trade=False)) == []
    assert await paper.repository.orders() == []


async def test_a_replayed_signal_places_nothing_unless_replays_are_paper_traded(paper: PaperTrading) -> None:
    assert await paper.on_signal(signal_generated(replay_of=uuid4())) == []
    assert await paper.repository.orders() == []


async def test_a_fill_takes_a_portfolio_snapshot(paper: PaperTrading) -> None:
    await paper.on_signal(signal_generated())

    snapshots = await paper.repository.snapshots(NOW - timedelta(days=1))
    assert [snapshot.reason for snapshot in snapshots] == ["fill"]
    assert snapshots[0].equity == Decimal(100_000)
    assert snapshots[0].open_positions == 1


async def test_every_trading_event_is_published_once_with_the_signal_execution(
    paper: PaperTrading, nats_client: NatsClient
) -> None:
    signal = signal_generated()
    await paper.on_signal(signal)
    await paper.on_signal(signal)

    events = await trading_events(nats_client)
    kinds = sorted(subject for subject, _ in events)
    assert kinds == sorted(
        [subjects.ORDER_SUBMITTED] * 3
        + [subjects.ORDER_ACCEPTED] * 3
        + [subjects.ORDER_FILLED, subjects.POSITION_CHANGED]
    )
    assert {body["execution_id"] for _, body in events} == {str(signal.execution_id)}
    submitted = [body for subject, body in events if subject == subjects.ORDER_SUBMITTED]
    assert {body["causation_id"] for body in submitted} == {str(signal.message_id)}
    assert all(body["signal_id"] == str(signal.message_id) for _, body in events)
