"""The broker: signals and manual orders become checked orders; venue events become the book.

Placing an order group happens in three steps, each safe to repeat:

1. Under the book lock, the group is recorded (``pending_submit``) with its ``OrderSubmitted``
   events, or recorded as ``rejected`` with the risk rule, unless its client reference (derived
   from the signal id) is already there: then nothing new is decided.
2. Under the lock again, the group's orders that were never handed to the venue are marked as
   sent; only the caller that marked them sends them.
3. They are sent; the venue reports back events, each applied in its own transaction.

Before any of this, a signal must still be wanted (:meth:`Broker.on_signal`): the strategy is read
again from the store (deleted, paused or with ``auto_trade`` off: nothing is placed, whatever the
message says), and a replayed or redriven signal places nothing unless the operator asked for it.
Such a skip is published as ``SignalSkipped`` and so recorded in the lineage with its reason.

So a redelivered signal finds its group and sends nothing twice, and a crash between 1 and 3
leaves orders marked unsent (or sent but unacknowledged), which :meth:`Broker.start` reconciles
with the venue and sends exactly once. Every change writes its events to the outbox in the same
transaction; they are published after commit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol
from uuid import UUID

import structlog

from tradelane.broker.book import Holding, apply_fill
from tradelane.broker.orders import EntryType, GroupPlan, plan_for_manual, plan_for_signal
from tradelane.broker.outbox import Outbox
from tradelane.broker.reconcile import corrections
from tradelane.broker.risk import Approval, Exposure, Guardrails, Refusal, assess
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
    VenueUnavailableError,
)
from tradelane.contracts import subjects
from tradelane.contracts.book import OrderRecord
from tradelane.contracts.envelope import utc_now
from tradelane.contracts.events import Action, BarsFetched, SignalGenerated
from tradelane.contracts.market import ResolvedSymbol
from tradelane.contracts.strategy import SymbolRef
from tradelane.contracts.trading import (
    CancelOrder,
    CancelReply,
    Fill,
    OrderAccepted,
    OrderCancelled,
    OrderEvent,
    OrderFilled,
    OrderPartiallyFilled,
    OrderPlaced,
    OrderRejected,
    OrderRole,
    OrderSide,
    OrderStatus,
    OrderSubmitted,
    PlaceOrder,
    PositionChanged,
    SignalSkipped,
    TimeInForce,
    TradingState,
    Venue,
    order_id,
    signal_order_ref,
    trading_day_start,
    trading_message_id,
)
from tradelane.store.book.transactions import BookTransaction, BrokerRepository
from tradelane.store.strategies import StoredStrategy

log = structlog.get_logger(__name__)

RISK_ENGINE = "risk-engine"
"""Who changes the trading state when the broker halts by itself."""
_MAX_FILL_ROUNDS = 50


def _submitted_id(order: OrderRecord) -> UUID:
    return trading_message_id(order.client_ref, "submitted")


def _order_event(
    event_type: type[OrderEvent], order: OrderRecord, what: str, causation: UUID | None, at: datetime, **fields: Any
) -> OrderEvent:
    return event_type.model_validate(
        {
            "message_id": trading_message_id(order.client_ref, what),
            "execution_id": order.execution_id,
            "strategy_id": order.strategy_id,
            "replay_of": order.replay_of,
            "causation_id": causation,
            "occurred_at": at,
            "client_ref": order.client_ref,
            "signal_id": order.signal_id,
            "order": order.ticket,
            "venue": order.venue,
            **fields,
        }
    )


def working_on_side(working: Sequence[OrderRecord], conid: int, side: OrderSide) -> Decimal:
    """The quantity the working orders on ``side`` for ``conid`` would still move the position by.

    Entries count whatever their state; a bracket's children only once their entry has filled
    (``working_since`` set), as until then they close a position that does not exist yet; the members
    of one OCA group count once, by the largest, since one filling cancels the others.
    """
    by_group: dict[str, Decimal] = {}
    for order in working:
        ticket = order.ticket
        if ticket.instrument.conid != conid or ticket.side is not side:
            continue
        if ticket.role is not OrderRole.ENTRY and order.working_since is None:
            continue
        group = ticket.oca_group or ticket.client_ref
        by_group[group] = max(by_group.get(group, Decimal(0)), order.remaining)
    return sum(by_group.values(), Decimal(0))


async def _publish_later(tx: BookTransaction, event: OrderEvent | PositionChanged | SignalSkipped) -> None:
    await tx.enqueue(subjects.subject_for(event), event)


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


class Broker:
    """Places orders through one venue under the risk engine, and keeps the book from the venue's events."""

    def __init__(
        self,
        repository: BrokerRepository,
        venue: OrderVenue,
        outbox: Outbox,
        strategies: StrategySource,
        *,
        entry_type: EntryType = "LMT",
        entry_tif: TimeInForce = TimeInForce.DAY,
        trade_replays: bool = False,
        guards: Guardrails | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._repository = repository
        self._venue = venue
        self._outbox = outbox
        self._strategies = strategies
        self._entry_type = entry_type
        self._entry_tif = entry_tif
        self._trade_replays = trade_replays
        self._guards = guards or Guardrails()
        self._clock = clock
        venue.bind(self.apply)

    @property
    def venue(self) -> OrderVenue:
        return self._venue

    async def start(self) -> None:
        """Connect the venue, open the account, reconcile working orders, publish what is pending."""
        await self._venue.start()
        await self._repository.open_account(
            self._venue.name, self._venue.mode, self._venue.account_id, await self._venue.initial_cash()
        )
        await self._repository.ensure_risk()
        await self.reconcile()
        await self._outbox.flush()

    async def reconcile(self) -> None:
        """Reconcile with the venue (orders and executions, then positions and cash), then send what it never got.

        Every correction is recorded in ``broker.reconciliations``.
        """
        await self._venue.resume(await self._repository.working_orders())
        holdings = await self._venue.holdings()
        if holdings is not None:
            account = await self._repository.account()
            assert account is not None
            for correction in corrections(await self._repository.positions(), account.cash, holdings):
                await self.apply(correction)
        await self._send_unsent()

    async def _send_unsent(self) -> None:
        unsent = {
            order.group_ref
            for order in await self._repository.working_orders()
            if order.status is OrderStatus.PENDING_SUBMIT and order.sent_at is None
        }
        for group_ref in sorted(unsent):
            await self._send(group_ref)

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
            await self._send(group_ref)
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
            await _publish_later(tx, event)
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

    async def submit(self, plan: GroupPlan) -> list[OrderRecord]:
        """Record (or find) the plan's order group, then send what was never sent; returns the group."""
        now = self._clock()
        async with self._repository.transaction() as tx:
            if not await tx.group(plan.group_ref):
                await self._decide(tx, plan, now)
        await self._outbox.flush()
        await self._send(plan.group_ref)
        return await self._repository.group(plan.group_ref)

    async def _decide(self, tx: BookTransaction, plan: GroupPlan, now: datetime) -> None:
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
            await _publish_later(
                tx, _order_event(OrderSubmitted, order, "submitted", plan.causation_id, now, sizing=approval.sizing)
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
        await _publish_later(
            tx,
            _order_event(
                OrderRejected, order, "rejected", plan.causation_id, now, source="risk", rule=refusal.rule.value,
                reason=refusal.reason,
            ),
        )  # fmt: skip
        log.info("order_refused", client_ref=plan.group_ref, rule=refusal.rule.value, reason=refusal.reason)

    def _new_order(
        self,
        plan: GroupPlan,
        ticket: Any,
        status: OrderStatus,
        *,
        sizing: str,
        rule: str | None = None,
        reason: str | None = None,
    ) -> OrderRecord:
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
        positions = {position.instrument.conid: position for position in await tx.positions()}
        working = await tx.working_orders()
        entries = [order for order in working if order.ticket.role is OrderRole.ENTRY]
        entry_value = Decimal(0)
        for order in entries:
            price = order.ticket.limit_price or order.ticket.stop_price
            if price is None:
                known = await tx.instrument(order.ticket.instrument.conid)
                price = known[1] if known is not None else None
            entry_value += order.remaining * (price or Decimal(0))
        held = positions.get(plan.instrument.conid)
        engaged = {conid for conid, position in positions.items() if position.quantity != 0}
        engaged |= {order.ticket.instrument.conid for order in entries}
        known = await tx.instrument(plan.instrument.conid)
        return Exposure(
            equity=portfolio.equity,
            daily_pnl=portfolio.daily_pnl,
            position=held.quantity if held is not None else Decimal(0),
            gross_exposure=portfolio.gross_exposure + entry_value,
            engaged=frozenset(engaged),
            duplicate_of=self._duplicate_of(plan, working),
            mark=known[1] if known is not None else None,
            pending=plan.side.sign * working_on_side(working, plan.instrument.conid, plan.side),
        )

    @staticmethod
    def _duplicate_of(plan: GroupPlan, working: Sequence[OrderRecord]) -> str | None:
        if plan.source != "signal":
            return None
        for order in working:
            same_strategy = order.source == "signal" and order.strategy_id == plan.strategy_id
            if not same_strategy or order.ticket.instrument.conid != plan.instrument.conid:
                continue
            entry_side = order.ticket.side if order.ticket.role is OrderRole.ENTRY else order.ticket.side.opposite
            if entry_side is plan.side:
                return order.group_ref
        return None

    async def _send(self, group_ref: str) -> None:
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
            await self.apply(Cancelled(order.client_ref, "cancelled before it was sent", self._clock()))
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
            if current is not None and not current.status.terminal:
                await tx.update_order(replace(current, status=OrderStatus.PENDING_CANCEL))

    # Prices and chores -----------------------------------------------------------------

    async def on_bars(self, msg: BarsFetched) -> None:
        """Keep the instrument's mark, let the venue fill working orders against the bars, watch the daily loss."""
        if msg.replay_of is not None:
            return
        last = msg.bars[-1]
        await self._repository.upsert_instrument(msg.symbol, Decimal(str(last.close)), last.time)
        for _ in range(_MAX_FILL_ROUNDS):
            working = await self._repository.working_orders(msg.symbol.conid)
            if not working or not await self._venue.on_prices(msg.symbol, msg.bars, working):
                break
        await self.watch_daily_loss()

    async def housekeeping(self) -> None:
        """Expire what the venue expires, and halt when the daily loss limit is reached."""
        await self._venue.housekeeping(await self._repository.working_orders(), self._clock())
        await self.watch_daily_loss()

    async def take_snapshot(self) -> None:
        """A scheduled portfolio snapshot."""
        now = self._clock()
        async with self._repository.transaction() as tx:
            portfolio = await tx.portfolio(trading_day_start(now))
            if portfolio is not None:
                await tx.insert_snapshot(portfolio, "schedule", now)

    async def watch_daily_loss(self) -> None:
        async with self._repository.transaction() as tx:
            await self._halt_on_daily_loss(tx, self._clock())

    async def _halt_on_daily_loss(self, tx: BookTransaction, now: datetime) -> None:
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
        await tx.set_trading_state(TradingState.HALTED, reason, RISK_ENGINE)
        log.warning("trading_halted", reason=reason)

    # Venue events ----------------------------------------------------------------------

    async def apply(self, event: VenueEvent) -> None:
        """Apply one venue event to the book (idempotent), then publish what it produced.

        After a reconnect (the venue reports it once it has reconciled), orders it did not know are sent again.
        """
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
        if isinstance(event, ConnectionRestored):
            await self.reconcile()

    async def _known(self, tx: BookTransaction, client_ref: str, what: str) -> OrderRecord | None:
        order = await tx.order_by_ref(client_ref)
        if order is None:
            await tx.record_reconciliation(
                "unknown_order", f"the venue reported {what} for an order the book does not have", client_ref=client_ref
            )
        return order

    async def _accepted(self, tx: BookTransaction, event: Accepted) -> None:
        order = await self._known(tx, event.client_ref, "an acceptance")
        if order is None or order.status is not OrderStatus.PENDING_SUBMIT:
            return
        working_since: datetime | None = event.at
        if order.ticket.parent_ref is not None:
            parent = await tx.order_by_ref(order.ticket.parent_ref)
            working_since = event.at if parent is not None and parent.status is OrderStatus.FILLED else None
        accepted = replace(
            order, status=OrderStatus.ACCEPTED, broker_order_id=event.broker_order_id, working_since=working_since
        )
        await tx.update_order(accepted)
        await _publish_later(
            tx,
            _order_event(
                OrderAccepted, accepted, "accepted", _submitted_id(order), event.at,
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
            status=OrderStatus.FILLED if complete else OrderStatus.PARTIALLY_FILLED,
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
        await _publish_later(tx, fill_event)
        await _publish_later(
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
        )
        await self._after_fill(tx, updated, complete, event.at)
        portfolio = await tx.portfolio(trading_day_start(event.at))
        assert portfolio is not None
        await tx.insert_snapshot(portfolio, "fill", event.at)
        await self._halt_on_daily_loss(tx, event.at)

    @staticmethod
    def _fill_event(order: OrderRecord, fill: Fill, complete: bool, at: datetime) -> OrderEvent:
        what = f"fill/{fill.exec_id}"
        common = {"fill": fill, "filled_quantity": order.filled_quantity, "average_price": order.average_price}
        if complete:
            return _order_event(OrderFilled, order, what, _submitted_id(order), at, **common)
        return _order_event(
            OrderPartiallyFilled, order, what, _submitted_id(order), at, remaining_quantity=order.remaining, **common
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
                await self._end(tx, sibling, f"OCA: {order.client_ref} filled", at)

    async def _end(self, tx: BookTransaction, order: OrderRecord, reason: str, at: datetime) -> None:
        cancelled = replace(order, status=OrderStatus.CANCELLED, reason=reason)
        await tx.update_order(cancelled)
        await _publish_later(
            tx, _order_event(OrderCancelled, cancelled, "cancelled", _submitted_id(order), at, reason=reason)
        )

    async def _cancelled(self, tx: BookTransaction, event: Cancelled) -> None:
        order = await self._known(tx, event.client_ref, "a cancel")
        if order is None or order.status.terminal:
            return
        await self._end(tx, order, event.reason, event.at)
        log.info("order_cancelled", client_ref=order.client_ref, reason=event.reason)
        await self._end_children(tx, order, f"parent {order.client_ref} cancelled", event.at)

    async def _rejected(self, tx: BookTransaction, event: Rejected) -> None:
        order = await self._known(tx, event.client_ref, "a rejection")
        if order is None or order.status.terminal:
            return
        rejected = replace(order, status=OrderStatus.REJECTED, reject_code=event.code, reason=event.reason)
        await tx.update_order(rejected)
        await _publish_later(
            tx,
            _order_event(
                OrderRejected, rejected, "rejected", _submitted_id(order), event.at, source="venue", code=event.code,
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
                await self._end(tx, child, reason, at)

    async def _connection_lost(self, tx: BookTransaction, event: ConnectionLost) -> None:
        await tx.set_connected(False)
        working = await tx.working_orders()
        risk = await tx.risk()
        if not working or risk.state is TradingState.HALTED:
            log.warning("venue_connection_lost", reason=event.reason, working_orders=len(working))
            return
        reason = f"connection to the broker lost with {len(working)} working orders: {event.reason}"
        await tx.set_trading_state(TradingState.HALTED, reason, RISK_ENGINE)
        log.warning("trading_halted", reason=reason)

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
