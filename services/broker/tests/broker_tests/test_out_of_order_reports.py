"""Venue reports out of order or repeated, through the real broker and book: fills count once, statuses hold."""

from __future__ import annotations

from decimal import Decimal

from structlog.testing import capture_logs

from tradelane.broker.venue import Accepted, Executed
from tradelane.contracts.book import OrderRecord
from tradelane.contracts.strategy import AssetType, SymbolRef
from tradelane.contracts.trading import CancelOrder, ManualOrder, OrderSide, OrderStatus, OrderType, PlaceOrder

from .support import BTC, NOW, PaperTrading

PRICE = Decimal(60_000)


async def _cancelled_resting_order(paper: PaperTrading, client_order_id: str) -> OrderRecord:
    """A 0.1 BTC buy limit below the market (so it rests), then cancelled."""
    await paper.repository.upsert_instrument(BTC, Decimal(60_500), NOW)
    order = ManualOrder(
        instrument=SymbolRef(symbol="BTC", exchange="PAXOS", asset_type=AssetType.CRYPTO),
        side=OrderSide.BUY,
        quantity=Decimal("0.1"),
        order_type=OrderType.LIMIT,
        limit_price=PRICE,
    )
    placed = await paper.engine.place_manual(PlaceOrder(order=order, client_order_id=client_order_id))
    assert placed.outcome == "submitted"
    reply = await paper.engine.cancel(CancelOrder(order_id=placed.order_ids[0]))
    assert reply.outcome == "cancelled"
    cancelled = await paper.repository.order(placed.order_ids[0])
    assert cancelled is not None
    return cancelled


def _execution(order: OrderRecord, exec_id: str, quantity: str, paper: PaperTrading) -> Executed:
    return Executed(order.client_ref, exec_id, Decimal(quantity), PRICE, Decimal(0), paper.clock.now)


async def _cash(paper: PaperTrading) -> Decimal:
    account = await paper.repository.account()
    assert account is not None
    return account.cash


async def _position(paper: PaperTrading) -> Decimal:
    position = await paper.repository.position(BTC.conid)
    return position.quantity if position is not None else Decimal(0)


async def test_a_fill_that_raced_the_cancel_is_booked_and_fills_the_order(paper: PaperTrading) -> None:
    order = await _cancelled_resting_order(paper, "raced-cancel")
    cash = await _cash(paper)

    await paper.engine.apply(_execution(order, "late-full", "0.1", paper))

    after = await paper.repository.order(order.id)
    assert after is not None
    assert after.status is OrderStatus.FILLED
    assert after.filled_quantity == Decimal("0.1")
    assert [fill.exec_id for fill in await paper.repository.fills(order.client_ref)] == ["late-full"]
    assert await _position(paper) == Decimal("0.1")
    assert await _cash(paper) == cash - Decimal(6_000)


async def test_a_partial_fill_after_the_cancel_is_booked_and_the_order_stays_cancelled(paper: PaperTrading) -> None:
    order = await _cancelled_resting_order(paper, "partial-after-cancel")

    await paper.engine.apply(_execution(order, "late-part", "0.04", paper))

    after = await paper.repository.order(order.id)
    assert after is not None
    assert after.status is OrderStatus.CANCELLED
    assert after.filled_quantity == Decimal("0.04")
    assert await _position(paper) == Decimal("0.04")
    assert await paper.repository.working_orders() == []


async def test_a_repeated_execution_id_is_booked_once(paper: PaperTrading) -> None:
    order = await _cancelled_resting_order(paper, "repeated-exec")
    cash = await _cash(paper)
    execution = _execution(order, "exec-twice", "0.04", paper)

    await paper.engine.apply(execution)
    await paper.engine.apply(execution)

    after = await paper.repository.order(order.id)
    assert after is not None
    assert after.filled_quantity == Decimal("0.04")
    assert len(await paper.repository.fills(order.client_ref)) == 1
    assert await _position(paper) == Decimal("0.04")
    assert await _cash(paper) == cash - Decimal(2_400)


async def test_a_late_acknowledgement_of_a_filled_order_is_refused_and_logged(paper: PaperTrading) -> None:
    order = await _cancelled_resting_order(paper, "late-ack")
    await paper.engine.apply(_execution(order, "fills-it", "0.1", paper))

    with capture_logs() as logs:
        await paper.engine.apply(Accepted(order.client_ref, "late-id", paper.clock.now))

    after = await paper.repository.order(order.id)
    assert after is not None
    assert after.status is OrderStatus.FILLED
    assert after.broker_order_id != "late-id"
    refused = [entry for entry in logs if entry["event"] == "order_transition_refused"]
    assert refused == [
        {
            "event": "order_transition_refused",
            "log_level": "warning",
            "order_id": str(order.id),
            "client_ref": order.client_ref,
            "from_status": "filled",
            "to_status": "accepted",
        }
    ]
