"""What the broker asks of the venue: orders placed once, under the risk engine, and cancels.

Placing an order group happens in three steps, each safe to repeat:

1. Under the book lock, the group is recorded (``pending_submit``) with its ``OrderSubmitted``
   events, or recorded as ``rejected`` with the risk rule, unless its client reference (derived
   from the signal id) is already there: then nothing new is decided.
2. Under the lock again, the group's orders that were never handed to the venue are marked as
   sent; only the caller that marked them sends them.
3. They are sent; the venue reports back events, which :mod:`tradelane.broker.reports` applies.

Before any of this, a signal must still be wanted (:meth:`Placement.on_signal`): the strategy is
read again from the store (deleted, paused or with ``auto_trade`` off: nothing is placed, whatever
the message says), and a replayed or redriven signal places nothing unless the operator asked for
it. Such a skip is published as ``SignalSkipped`` and so recorded in the lineage with its reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Protocol
from uuid import UUID

import structlog

from tradelane.broker.order_events import order_event, publish_later
from tradelane.broker.order_states import status_after_report
from tradelane.broker.outbox import Outbox
from tradelane.broker.venue import Cancelled, EventSink, OrderVenue, VenueUnavailableError
from tradelane.contracts.book import OrderRecord
from tradelane.contracts.events import Action, SignalGenerated
from tradelane.contracts.market import ResolvedSymbol
from tradelane.contracts.strategy import SymbolRef
from tradelane.contracts.trading import (
    CancelOrder,
    CancelReply,
    OrderPlaced,
    OrderRejected,
    OrderStatus,
    OrderSubmitted,
    OrderTicket,
    PlaceOrder,
    SignalSkipped,
    TimeInForce,
    Venue,
    order_id,
    signal_order_ref,
    trading_day_start,
    trading_message_id,
)
from tradelane.store.book.transactions import BookRepository, BookTransaction
from tradelane.store.strategies import StoredStrategy
from tradelane.trading.exposure import exposure_of, marks_needed
from tradelane.trading.orders import EntryType, GroupPlan, plan_for_manual, plan_for_signal
from tradelane.trading.risk import Approval, Exposure, Guardrails, Refusal, assess

log = structlog.get_logger(__name__)


class StrategySource(Protocol):
    """Where the broker reads a strategy as it is stored now (``StrategyRepository``)."""

    async def get(self, strategy_id: UUID) -> StoredStrategy | None: ...


@dataclass(frozen=True)
class Redrive:
    """A signal delivered again from the dead-letter stream: which dead letter, and whether it may trade."""

    dead_letter_id: str
    places_orders: bool = False


@dataclass(frozen=True)
class Skip:
    """Why a signal that asked to trade places no order: ``rule`` names it, ``reason`` says it."""

    rule: str
    reason: str


class Placement:
    """Decides, records and sends order groups (each once), and asks the venue to cancel."""

    def __init__(
        self,
        repository: BookRepository,
        venue: OrderVenue,
        outbox: Outbox,
        strategies: StrategySource,
        *,
        apply: EventSink,
        entry_type: EntryType,
        entry_tif: TimeInForce,
        trade_replays: bool,
        guards: Guardrails,
        clock: Callable[[], datetime],
    ) -> None:
        """``apply`` applies a venue event to the book: a cancel of an order never sent is one."""
        self._repository = repository
        self._venue = venue
        self._outbox = outbox
        self._strategies = strategies
        self._apply = apply
        self._entry_type = entry_type
        self._entry_tif = entry_tif
        self._trade_replays = trade_replays
        self._guards = guards
        self._clock = clock

    # Signals and manual orders -------------------------------------------------------------

    @staticmethod
    def asks_nothing(msg: SignalGenerated) -> str | None:
        """Why a signal asks for no order at all (None: it asks for one); such a signal is not reported as skipped."""
        if msg.signal.action is Action.HOLD:
            return "the signal is HOLD"
        if not msg.strategy.auto_trade:
            return "auto_trade is off for this strategy"
        return None

    def delivery_skip(self, msg: SignalGenerated, redrive: Redrive | None) -> Skip | None:
        """Why a replayed or redriven signal places no order (None: how it came may trade)."""
        if msg.replay_of is not None and self._venue.name is not Venue.PAPER:
            return Skip("replay", "replays never reach a real broker: only the paper venue trades them")
        if msg.replay_of is not None and not (msg.replay_places_orders or self._trade_replays):
            return Skip(
                "replay",
                "a replay places no orders unless the replay asks for it (place_orders: true) or the broker "
                "paper-trades every replay (TRADELANE_BROKER_TRADE_REPLAYS=true)",
            )
        if redrive is not None and not redrive.places_orders:
            return Skip(
                "redrive",
                f"a redriven signal (dead letter {redrive.dead_letter_id}) places no orders unless the redrive asks "
                "for it (place_orders: true)",
            )
        return None

    async def trading_strategy(self, msg: SignalGenerated) -> StoredStrategy | Skip:
        """The signal's strategy as stored now, or why it no longer trades (the message's copy is not trusted)."""
        stored = await self._strategies.get(msg.strategy_id)
        if stored is None:
            return Skip("strategy_deleted", f"strategy {msg.strategy_id} no longer exists")
        definition = stored.definition
        if not definition.active:
            return Skip("strategy_inactive", f"strategy {definition.name!r} is paused (active is false)")
        if not definition.auto_trade:
            return Skip("auto_trade_off", f"strategy {definition.name!r} has auto_trade off now")
        if definition.symbol.symbol != msg.signal.symbol.symbol:
            return Skip(
                "strategy_symbol_changed",
                f"strategy {definition.name!r} now trades {definition.symbol.symbol}, not the signal's "
                f"{msg.signal.symbol.symbol}",
            )
        return stored

    async def on_signal(self, msg: SignalGenerated, redrive: Redrive | None = None) -> list[OrderRecord]:
        """Place the bracket a signal asks for (once, however often the signal is delivered).

        Nothing is placed for a signal that asks for nothing (logged), nor for one the guards skip (logged
        and published as ``SignalSkipped``). The risk fraction is the stored strategy's, not the message's.
        """
        nothing = self.asks_nothing(msg)
        if nothing is not None:
            log.info("signal_not_traded", reason=nothing, action=msg.signal.action.value)
            return []
        group_ref = signal_order_ref(msg.message_id)
        if await self._repository.group(group_ref):
            # decided on an earlier delivery: only send what never went out, whatever changed since
            await self.send(group_ref)
            return await self._repository.group(group_ref)
        outcome = self.delivery_skip(msg, redrive) or await self.trading_strategy(msg)
        if isinstance(outcome, Skip):
            await self._record_skip(msg, outcome)
            return []
        signal = msg.signal
        # the instrument is remembered without a price: a mark comes from market data, never from a signal
        await self._repository.remember_instrument(signal.symbol, None, msg.occurred_at)
        risk_fraction = outcome.definition.risk.risk_per_trade
        return await self.submit(plan_for_signal(msg, self._entry_type, self._entry_tif, risk_fraction))

    async def _record_skip(self, msg: SignalGenerated, skip: Skip) -> None:
        log.warning("signal_skipped", rule=skip.rule, reason=skip.reason, action=msg.signal.action.value)
        event = SignalSkipped(
            message_id=trading_message_id(signal_order_ref(msg.message_id), f"skipped/{skip.rule}"),
            execution_id=msg.execution_id,
            strategy_id=msg.strategy_id,
            replay_of=msg.replay_of,
            replay_places_orders=msg.replay_places_orders,
            causation_id=msg.message_id,
            occurred_at=self._clock(),
            signal_id=msg.message_id,
            rule=skip.rule,
            reason=skip.reason,
        )
        async with self._repository.transaction() as tx:
            await publish_later(tx, event)
        await self._outbox.flush()

    async def place_manual(self, command: PlaceOrder) -> OrderPlaced:
        """Place a user's order (or bracket); the reply says whether the risk engine let it through."""
        instrument, last_price = await self._instrument(command.order.instrument)
        if instrument is None:
            return OrderPlaced(
                outcome="rejected",
                client_ref="",
                rule="unknown_instrument",
                reason=f"the broker knows no {command.order.instrument.symbol} "
                f"({command.order.instrument.asset_type.value} in {command.order.instrument.currency}): give its "
                "conid, or run a strategy on it first so the broker has seen it",
            )
        group = await self.submit(plan_for_manual(command.order, command.client_order_id, instrument, last_price))
        entry = group[0]
        ids = tuple(order.id for order in group)
        if entry.status is OrderStatus.REJECTED:
            return OrderPlaced(
                outcome="rejected",
                client_ref=entry.client_ref,
                order_ids=ids,
                rule=entry.reject_rule,
                reason=entry.reason or "",
            )
        return OrderPlaced(outcome="submitted", client_ref=entry.client_ref, order_ids=ids)

    async def _instrument(self, ref: SymbolRef) -> tuple[ResolvedSymbol | None, Decimal | None]:
        if ref.conid is not None:
            known = await self._repository.instrument(ref.conid)
            if known is not None:
                return known[0], known[1]
        else:
            found = [
                instrument
                for instrument in await self._repository.find_instruments(
                    ref.symbol, ref.asset_type.value, ref.currency
                )
                if ref.exchange in {"SMART", instrument.exchange}
            ]
            if len(found) == 1:
                known = await self._repository.instrument(found[0].conid)
                assert known is not None
                return known[0], known[1]
        resolved = await self._venue.resolve(ref)
        if resolved is not None:
            await self._repository.remember_instrument(resolved, None, self._clock())
        return resolved, None

    # Deciding and sending ------------------------------------------------------------------

    async def submit(self, plan: GroupPlan) -> list[OrderRecord]:
        """Record (or find) the plan's order group, then send what was never sent; returns the group."""
        now = self._clock()
        async with self._repository.transaction() as tx:
            if not await tx.group(plan.group_ref):
                await self.decide(tx, plan, now)
        await self._outbox.flush()
        await self.send(plan.group_ref)
        return await self._repository.group(plan.group_ref)

    async def decide(self, tx: BookTransaction, plan: GroupPlan, now: datetime) -> None:
        """Step 1 within ``tx``: the risk engine's verdict on the plan, recorded as orders to send or as a refusal."""
        risk = await tx.risk()
        exposure = await self._exposure(tx, plan, now)
        verdict = assess(plan, exposure, risk.limits, risk.state, risk.reason, now, self._guards)
        if isinstance(verdict, Refusal):
            await self._record_refusal(tx, plan, verdict, now)
            return
        await self._record_submission(tx, plan, verdict, now)

    async def _record_submission(self, tx: BookTransaction, plan: GroupPlan, approval: Approval, now: datetime) -> None:
        for ticket in plan.tickets(approval.quantity):
            order = self._new_order(plan, ticket, OrderStatus.PENDING_SUBMIT, sizing=approval.sizing)
            await tx.insert_order(order)
            await publish_later(
                tx, order_event(OrderSubmitted, order, "submitted", plan.causation_id, now, sizing=approval.sizing)
            )
        log.info(
            "order_submitted",
            client_ref=plan.group_ref,
            symbol=plan.instrument.symbol,
            side=plan.side.value,
            quantity=str(approval.quantity),
            bracket=plan.is_bracket,
        )

    async def _record_refusal(self, tx: BookTransaction, plan: GroupPlan, refusal: Refusal, now: datetime) -> None:
        entry = plan.tickets(refusal.quantity)[0]
        order = self._new_order(
            plan, entry, OrderStatus.REJECTED, sizing=refusal.sizing, rule=refusal.rule.value, reason=refusal.reason
        )
        await tx.insert_order(order)
        await publish_later(
            tx,
            order_event(
                OrderRejected, order, "rejected", plan.causation_id, now, source="risk", rule=refusal.rule.value,
                reason=refusal.reason,
            ),
        )  # fmt: skip
        log.info("order_refused", client_ref=plan.group_ref, rule=refusal.rule.value, reason=refusal.reason)

    def _new_order(
        self,
        plan: GroupPlan,
        ticket: OrderTicket,
        status: OrderStatus,
        *,
        sizing: str,
        rule: str | None = None,
        reason: str | None = None,
    ) -> OrderRecord:
        """A new order in the status it starts in: ``pending_submit``, or ``rejected`` by the risk engine."""
        return OrderRecord(
            id=order_id(ticket.client_ref),
            ticket=ticket,
            group_ref=plan.group_ref,
            source=plan.source,
            venue=self._venue.name,
            execution_id=plan.execution_id,
            strategy_id=plan.strategy_id,
            signal_id=plan.signal_id,
            causation_id=plan.causation_id,
            status=status,
            reject_rule=rule,
            reason=reason,
            sizing=sizing,
            replay_of=plan.replay_of,
        )

    async def _exposure(self, tx: BookTransaction, plan: GroupPlan, now: datetime) -> Exposure:
        portfolio = await tx.portfolio(trading_day_start(now))
        assert portfolio is not None, "the account is opened at start"
        working = await tx.working_orders()
        marks: dict[int, Decimal | None] = {}
        for conid in marks_needed(plan, working):
            known = await tx.instrument(conid)
            marks[conid] = known[1] if known is not None else None
        return exposure_of(plan, portfolio, await tx.positions(), working, marks)

    async def send(self, group_ref: str) -> None:
        """Steps 2 and 3: claim the group's orders never handed to the venue, and send them (unclaimed on failure)."""
        async with self._repository.transaction() as tx:
            to_send = await tx.claim_unsent(group_ref)
        if not to_send:
            return
        try:
            await self._venue.place(to_send)
        except VenueUnavailableError:
            async with self._repository.transaction() as tx:
                for order in to_send:
                    await tx.unsend(order.client_ref)
            raise

    async def send_unsent(self) -> None:
        """Send every group with orders recorded but never handed to the venue (after a crash or a reconnect)."""
        unsent = {
            order.group_ref
            for order in await self._repository.working_orders()
            if order.status is OrderStatus.PENDING_SUBMIT and order.sent_at is None
        }
        for group_ref in sorted(unsent):
            await self.send(group_ref)

    # Cancels ---------------------------------------------------------------------------

    async def cancel(self, command: CancelOrder) -> CancelReply:
        """Cancel an order; the reply says whether the venue did, is doing, or refused it (and why)."""
        order = await self._repository.order(command.order_id)
        if order is None:
            return CancelReply(outcome="not_found", reason=f"no order with id {command.order_id}")
        if order.status.terminal:
            return CancelReply(
                outcome="refused", reason=f"the order is already {order.status.value}", status=order.status
            )
        if order.status is OrderStatus.PENDING_SUBMIT and order.sent_at is None:
            await self._apply(Cancelled(order.client_ref, "cancelled before it was sent", self._clock()))
        else:
            result = await self._venue.cancel(order)
            if result.outcome == "refused":
                log.warning("cancel_refused", client_ref=order.client_ref, reason=result.reason)
                after = await self._repository.order(command.order_id)
                return CancelReply(outcome="refused", reason=result.reason, status=after.status if after else None)
            if result.outcome == "pending_cancel":
                await self._mark_pending_cancel(order)
        after = await self._repository.order(command.order_id)
        assert after is not None
        if after.status is OrderStatus.CANCELLED:
            return CancelReply(outcome="cancelled", status=after.status)
        if after.status.terminal:
            return CancelReply(
                outcome="refused", reason=f"the order was {after.status.value} before it could be cancelled",
                status=after.status,
            )  # fmt: skip
        return CancelReply(outcome="pending_cancel", status=after.status)

    async def _mark_pending_cancel(self, order: OrderRecord) -> None:
        async with self._repository.transaction() as tx:
            current = await tx.order_by_ref(order.client_ref)
            if current is None:
                return
            status = status_after_report(current, OrderStatus.PENDING_CANCEL)
            if status is not current.status:
                await tx.update_order(replace(current, status=status))
