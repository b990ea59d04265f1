"""What the venue reports becomes the book: statuses, fills, positions, cash and P&L, each report in one transaction.

Every status a report moves an order to is asked of the transition table first
(:mod:`tradelane.broker.order_states`); a report the table refuses changes no status and is
logged, never raised, so the next report is still applied. An execution is applied once
(the fills table is unique on its execution id) and always moves the position and cash,
whatever the order's status, since money changed hands.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from decimal import Decimal

import structlog

from tradelane.broker.order_events import order_event, publish_later, submitted_id
from tradelane.broker.order_states import status_after_report
from tradelane.broker.outbox import Outbox
from tradelane.broker.venue import (
    Accepted,
    Cancelled,
    CashCorrected,
    ConnectionLost,
    ConnectionRestored,
    Executed,
    Noticed,
    OrderVenue,
    PositionCorrected,
    Rejected,
    Unsent,
    VenueEvent,
)
from tradelane.contracts.book import OrderRecord
from tradelane.contracts.trading import (
    Fill,
    OrderAccepted,
    OrderCancelled,
    OrderEvent,
    OrderFilled,
    OrderPartiallyFilled,
    OrderRejected,
    OrderRole,
    OrderStatus,
    PositionChanged,
    TradingState,
    trading_day_start,
    trading_message_id,
)
from tradelane.store.book.transactions import BookRepository, BookTransaction
from tradelane.trading.position_accounting import Holding, apply_fill

log = structlog.get_logger(__name__)

RISK_ENGINE = "risk-engine"
"""Who changes the trading state when the broker halts by itself."""


async def halt(tx: BookTransaction, reason: str) -> None:
    """Halt trading within ``tx``; the ``TradingStateChanged`` is published once it commits."""
    change = await tx.set_trading_state(TradingState.HALTED, reason, RISK_ENGINE)
    if change.changed:
        await publish_later(tx, change.event())
    log.warning("trading_halted", reason=reason)


async def halt_on_daily_loss(tx: BookTransaction, now: datetime) -> None:
    """Halt trading (within ``tx``) once today's P&L reaches the daily loss limit."""
    risk = await tx.risk()
    if risk.state is TradingState.HALTED:
        return
    portfolio = await tx.portfolio(trading_day_start(now))
    if portfolio is None or portfolio.daily_pnl > -risk.limits.daily_loss_limit:
        return
    reason = (
        f"daily loss limit reached: today's P&L {portfolio.daily_pnl:,.2f} (equity {portfolio.equity:,.2f}, "
        f"at the start of the day {portfolio.day_start_equity:,.2f}) against a limit of "
        f"{risk.limits.daily_loss_limit:,.2f}"
    )
    await halt(tx, reason)


async def end_order(tx: BookTransaction, order: OrderRecord, reason: str, at: datetime) -> bool:
    """Cancel ``order`` in the book (a venue's cancel, or the broker ending a bracket child or OCA sibling).

    False when the transition table keeps the order where it is (already cancelled, or filled or rejected).
    """
    status = status_after_report(order, OrderStatus.CANCELLED)
    if status is order.status:
        return False
    cancelled = replace(order, status=status, reason=reason)
    await tx.update_order(cancelled)
    await publish_later(tx, order_event(OrderCancelled, cancelled, "cancelled", submitted_id(order), at, reason=reason))
    return True


class VenueReports:
    """Applies a venue's reports to the book, and publishes what they changed."""

    def __init__(
        self, repository: BookRepository, venue: OrderVenue, outbox: Outbox, clock: Callable[[], datetime]
    ) -> None:
        self._repository = repository
        self._venue = venue
        self._outbox = outbox
        self._clock = clock

    async def apply(self, event: VenueEvent) -> None:
        """Apply one venue event to the book (idempotent), then publish what it produced."""
        if isinstance(event, PositionCorrected):
            await self._repository.remember_instrument(event.instrument, None, self._clock())
        async with self._repository.transaction() as tx:
            match event:
                case Accepted():
                    await self._accepted(tx, event)
                case Executed():
                    await self._executed(tx, event)
                case Cancelled():
                    await self._cancelled(tx, event)
                case Rejected():
                    await self._rejected(tx, event)
                case ConnectionLost():
                    await self._connection_lost(tx, event)
                case ConnectionRestored():
                    await tx.set_connected(True)
                    log.info("venue_connection_restored")
                case Unsent():
                    await tx.unsend(event.client_ref)
                    await tx.record_reconciliation("resent", event.detail, client_ref=event.client_ref)
                case PositionCorrected():
                    await self._position_corrected(tx, event)
                case CashCorrected():
                    await tx.set_cash(event.cash)
                    await tx.record_reconciliation("cash", event.detail)
                case Noticed():
                    await tx.record_reconciliation(event.kind, event.detail, client_ref=event.client_ref)
        await self._outbox.flush()

    async def _known(self, tx: BookTransaction, client_ref: str, what: str) -> OrderRecord | None:
        order = await tx.order_by_ref(client_ref)
        if order is None:
            await tx.record_reconciliation(
                "unknown_order", f"the venue reported {what} for an order the book does not have", client_ref=client_ref
            )
        return order

    async def _accepted(self, tx: BookTransaction, event: Accepted) -> None:
        order = await self._known(tx, event.client_ref, "an acceptance")
        if order is None:
            return
        status = status_after_report(order, OrderStatus.ACCEPTED)
        if status is order.status:
            return
        working_since: datetime | None = event.at
        if order.ticket.parent_ref is not None:
            parent = await tx.order_by_ref(order.ticket.parent_ref)
            working_since = event.at if parent is not None and parent.status is OrderStatus.FILLED else None
        accepted = replace(order, status=status, broker_order_id=event.broker_order_id, working_since=working_since)
        await tx.update_order(accepted)
        await publish_later(
            tx,
            order_event(
                OrderAccepted, accepted, "accepted", submitted_id(order), event.at,
                broker_order_id=event.broker_order_id,
            ),
        )  # fmt: skip

    async def _executed(self, tx: BookTransaction, event: Executed) -> None:
        order = await self._known(tx, event.client_ref, f"execution {event.exec_id}")
        if order is None or await tx.fill_exists(event.exec_id):
            return
        ticket = order.ticket
        conid = ticket.instrument.conid
        position = await tx.position(conid)
        holding = (
            Holding(position.quantity, position.average_cost, position.realized_pnl, position.opened_at)
            if position is not None
            else Holding()
        )
        effect = apply_fill(holding, ticket.side, event.quantity, event.price, event.commission, event.at)
        fill = Fill(
            exec_id=event.exec_id,
            quantity=event.quantity,
            price=event.price,
            commission=event.commission,
            realized_pnl=effect.realized_pnl,
            filled_at=event.at,
        )
        await tx.insert_fill(order.client_ref, fill)
        filled = order.filled_quantity + event.quantity
        average = ((order.average_price or Decimal(0)) * order.filled_quantity + event.price * event.quantity) / filled
        complete = filled >= ticket.quantity
        updated = replace(
            order,
            status=status_after_report(order, OrderStatus.FILLED if complete else OrderStatus.PARTIALLY_FILLED),
            filled_quantity=filled,
            average_price=average.quantize(Decimal("0.00000001")),
            commission=order.commission + event.commission,
            working_since=order.working_since or event.at,
        )
        await tx.update_order(updated)
        await tx.save_position(
            conid,
            effect.holding.quantity,
            effect.holding.average_cost,
            effect.holding.realized_pnl,
            effect.holding.opened_at,
            event.at,
        )
        await tx.add_cash(effect.cash_change)
        fill_event = self._fill_event(updated, fill, complete, event.at)
        await publish_later(tx, fill_event)
        await publish_later(
            tx,
            PositionChanged(
                message_id=trading_message_id(order.client_ref, f"position/{event.exec_id}"),
                execution_id=order.execution_id,
                strategy_id=order.strategy_id,
                replay_of=order.replay_of,
                causation_id=fill_event.message_id,
                occurred_at=event.at,
                instrument=ticket.instrument,
                quantity=effect.holding.quantity,
                previous_quantity=holding.quantity,
                average_cost=effect.holding.average_cost,
                realized_pnl=effect.holding.realized_pnl,
                client_ref=order.client_ref,
                signal_id=order.signal_id,
                exec_id=event.exec_id,
            ),
        )
        log.info(
            "order_filled" if complete else "order_partially_filled",
            client_ref=order.client_ref,
            quantity=str(event.quantity),
            price=str(event.price),
            position=str(effect.holding.quantity),
            status=updated.status.value,
        )
        await self._after_fill(tx, updated, complete, event.at)
        portfolio = await tx.portfolio(trading_day_start(event.at))
        assert portfolio is not None
        await tx.insert_snapshot(portfolio, "fill", event.at)
        await halt_on_daily_loss(tx, event.at)

    @staticmethod
    def _fill_event(order: OrderRecord, fill: Fill, complete: bool, at: datetime) -> OrderEvent:
        what = f"fill/{fill.exec_id}"
        common = {"fill": fill, "filled_quantity": order.filled_quantity, "average_price": order.average_price}
        if complete:
            return order_event(OrderFilled, order, what, submitted_id(order), at, **common)
        return order_event(
            OrderPartiallyFilled, order, what, submitted_id(order), at, remaining_quantity=order.remaining, **common
        )

    async def _after_fill(self, tx: BookTransaction, order: OrderRecord, complete: bool, at: datetime) -> None:
        """A filled entry starts its bracket's children; a filled OCA member ends its siblings (paper venue)."""
        group = await tx.group(order.group_ref)
        if order.ticket.role is OrderRole.ENTRY and complete:
            for child in group:
                if child.ticket.parent_ref == order.client_ref and child.status is OrderStatus.ACCEPTED:
                    await tx.update_order(replace(child, working_since=child.working_since or at))
        if self._venue.handles_brackets or not complete or order.ticket.oca_group is None:
            return
        for sibling in group:
            same_group = sibling.ticket.oca_group == order.ticket.oca_group
            if same_group and sibling.client_ref != order.client_ref and not sibling.status.terminal:
                await end_order(tx, sibling, f"OCA: {order.client_ref} filled", at)

    async def _cancelled(self, tx: BookTransaction, event: Cancelled) -> None:
        order = await self._known(tx, event.client_ref, "a cancel")
        if order is None or not await end_order(tx, order, event.reason, event.at):
            return
        log.info("order_cancelled", client_ref=order.client_ref, reason=event.reason)
        await self._end_children(tx, order, f"parent {order.client_ref} cancelled", event.at)

    async def _rejected(self, tx: BookTransaction, event: Rejected) -> None:
        order = await self._known(tx, event.client_ref, "a rejection")
        if order is None:
            return
        status = status_after_report(order, OrderStatus.REJECTED)
        if status is order.status:
            return
        rejected = replace(order, status=status, reject_code=event.code, reason=event.reason)
        await tx.update_order(rejected)
        await publish_later(
            tx,
            order_event(
                OrderRejected, rejected, "rejected", submitted_id(order), event.at, source="venue", code=event.code,
                reason=event.reason,
            ),
        )  # fmt: skip
        log.warning("order_rejected_by_venue", client_ref=order.client_ref, code=event.code, reason=event.reason)
        await self._end_children(tx, order, f"parent {order.client_ref} rejected", event.at)

    async def _end_children(self, tx: BookTransaction, order: OrderRecord, reason: str, at: datetime) -> None:
        if self._venue.handles_brackets or order.ticket.role is not OrderRole.ENTRY or order.filled_quantity > 0:
            return
        for child in await tx.group(order.group_ref):
            if child.ticket.parent_ref == order.client_ref and not child.status.terminal:
                await end_order(tx, child, reason, at)

    async def _connection_lost(self, tx: BookTransaction, event: ConnectionLost) -> None:
        await tx.set_connected(False)
        working = await tx.working_orders()
        risk = await tx.risk()
        if not working or risk.state is TradingState.HALTED:
            log.warning("venue_connection_lost", reason=event.reason, working_orders=len(working))
            return
        reason = f"connection to the broker lost with {len(working)} working orders: {event.reason}"
        await halt(tx, reason)

    async def _position_corrected(self, tx: BookTransaction, event: PositionCorrected) -> None:
        conid = event.instrument.conid
        before = await tx.position(conid)
        realized = before.realized_pnl if before is not None else Decimal(0)
        opened = before.opened_at if before is not None and before.quantity != 0 else None
        await tx.save_position(
            conid,
            event.quantity,
            event.average_cost,
            realized,
            (opened or self._clock()) if event.quantity != 0 else None,
            self._clock(),
        )
        await tx.record_reconciliation("position", event.detail, conid=conid)
        log.warning("position_corrected", conid=conid, detail=event.detail)
