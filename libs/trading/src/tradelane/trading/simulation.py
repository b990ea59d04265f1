"""A backtest's simulated venue: a strategy's decisions traded against past bars by the broker's own rules.

A decision's signal becomes the bracket the broker would place (:func:`~tradelane.trading.orders.plan_for_signal`),
sized and checked by the risk engine (:func:`~tradelane.trading.risk.assess`) against the simulated book
(:func:`~tradelane.trading.exposure.exposure_of`, the account valued by
:func:`~tradelane.contracts.portfolio.value_portfolio`), filled by the paper venue's rules
(:mod:`tradelane.trading.paper`) and booked by :func:`~tradelane.trading.position_accounting.apply_fill`.
What this module adds is only the clock, which the paper venue takes from the wall and a backtest from the bars:

* Decisions and bars are taken in time order. A decision at ``t`` has seen only bars closed at or
  before ``t``; it is made before the first bar that starts at or after ``t`` (its *next bar*). The risk
  engine's mark is the close the decision saw: its signal's ``provenance.reference_price`` (the broker's
  mark is likewise the last close of the execution's bars), else the close of the last bar known closed
  at ``t`` (one followed by a bar that started by ``t``). ``now`` for the risk engine (signal expiry,
  trading hours, the UTC day) is ``t``.
* An order reaches the market at its next bar's open, which is the paper venue's *arrival*: an entry
  marketable there fills at once (a market order at the open, with slippage); otherwise it works, and
  fills in the first bar, that one included, that trades through its price.
* A bracket's children work from their entry's fill (in that bar too); when one bar reaches both, the
  stop-loss fills (:func:`~tradelane.trading.paper.fill_priority`); one filling cancels the other (OCA).
* An entry expires as the paper venue expires it: a DAY order at the end of its trading day
  (:meth:`~tradelane.trading.calendar.TradingCalendar.session_end` of when it was placed), an IOC order
  not marketable on arrival; a GTC order works to the end. A signal's ``expires_at`` is checked when it
  arrives (the risk rule ``signal_expired``), never afterwards, as in the broker.
* The trading state stays ACTIVE: the broker's halt on the daily loss limit waits for an operator to
  resume, which a backtest has not; the risk rule ``daily_loss_limit`` still refuses new exposure for
  the rest of the UTC day. A strategy's ``auto_trade`` is not asked: a backtest trades by design.
* At ``end`` a bracket still open is closed at the last close (no slippage, its commission paid, so
  the last equity point is cash); an entry still working lapses.

Equity is cash plus the position valued at each bar's close, one point per bar from the first decision
to ``end``, each labelled with its bar's start (the bars' own key). Money is Decimal throughout.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Literal
from uuid import UUID

from tradelane.contracts.backtest import EquityPoint, SimulatedTrade, SimulationCosts
from tradelane.contracts.book import AccountRecord, OrderRecord
from tradelane.contracts.events import Action, SignalGenerated
from tradelane.contracts.market import Bar, ResolvedSymbol
from tradelane.contracts.portfolio import PositionRecord, value_portfolio
from tradelane.contracts.trading import (
    OrderRole,
    OrderSide,
    OrderStatus,
    OrderTicket,
    TimeInForce,
    TradingLimits,
    TradingState,
    Venue,
    order_id,
    trading_day_start,
)
from tradelane.trading.calendar import calendar_for
from tradelane.trading.exposure import exposure_of
from tradelane.trading.orders import EntryType, GroupPlan, plan_for_signal
from tradelane.trading.paper import PaperCosts, fill_in_bar, fill_on_arrival, fill_priority
from tradelane.trading.position_accounting import Holding, apply_fill
from tradelane.trading.risk import Guardrails, Refusal, assess

_MAX_FILL_ROUNDS = 50
"""Fills one bar may hold (the paper venue's rounds): an entry, then one child, is two."""
_ACCOUNT_ID = "backtest"
ExitReason = Literal["stop", "target", "end_of_period"]


def paper_costs(costs: SimulationCosts) -> PaperCosts:
    """A backtest request's costs as the paper fill rules take them."""
    return PaperCosts(
        slippage_bps=costs.slippage_bps,
        commission_rate=costs.commission_rate,
        commission_minimum=costs.commission_minimum,
    )


@dataclass(frozen=True)
class Decision:
    """One decision of a backtest: when it was made, its execution, and the signal it produced.

    ``signal`` is None when the execution produced none (the candidate was rejected, or a step failed):
    nothing is placed, as for a HOLD.
    """

    seq: int
    execution_id: UUID
    decided_at: datetime
    signal: SignalGenerated | None


@dataclass(frozen=True)
class Refused:
    """A decision's signal the risk engine refused: the rule, and the reason with the numbers."""

    seq: int
    rule: str
    reason: str


@dataclass(frozen=True)
class Lapsed:
    """A decision's entry that never filled: when and why it stopped working."""

    seq: int
    at: datetime
    reason: str


@dataclass(frozen=True)
class Simulation:
    """What the decisions did on the simulated venue.

    ``fees`` is every commission paid (the closes at the end included); ``exposure`` the share of the equity
    curve's bars with a position open at some moment of the bar (None without any bar).
    """

    trades: tuple[SimulatedTrade, ...]
    equity: tuple[EquityPoint, ...]
    fees: Decimal
    exposure: float | None
    refusals: tuple[Refused, ...] = ()
    lapses: tuple[Lapsed, ...] = ()


def simulate(
    instrument: ResolvedSymbol,
    bars: Sequence[Bar],
    decisions: Sequence[Decision],
    *,
    initial_cash: Decimal,
    limits: TradingLimits,
    costs: PaperCosts,
    end: datetime,
    entry_type: EntryType = "LMT",
    entry_tif: TimeInForce = TimeInForce.DAY,
    guards: Guardrails | None = None,
    risk_fraction: Decimal | None = None,
) -> Simulation:
    """Trade ``decisions`` on ``instrument`` against ``bars`` up to ``end`` (see the module's rules).

    ``entry_type`` and ``entry_tif`` are a signal's entry as the broker places it (its defaults: LMT, DAY);
    ``limits`` and ``guards`` what the risk engine checks (None: the default collar and ceilings);
    ``risk_fraction`` the stored strategy's risk per trade (None: each signal's strategy's). Bars and
    decisions at or after ``end`` are not used. A BUY or SELL signal without an entry and a stop, or on
    another instrument, raises ValueError: the signal step never publishes one.
    """
    venue = _SimulatedVenue(instrument, initial_cash, limits, costs, guards or Guardrails())
    ordered = sorted((bar for bar in bars if bar.time < end), key=lambda bar: bar.time)
    waiting = sorted((d for d in decisions if d.decided_at < end), key=lambda d: (d.decided_at, d.seq))
    start = waiting[0].decided_at if waiting else None
    next_decision = 0
    for bar in ordered:
        while next_decision < len(waiting) and waiting[next_decision].decided_at <= bar.time:
            venue.decide(waiting[next_decision], bar.time, entry_type, entry_tif, risk_fraction)
            next_decision += 1
        venue.trade(bar, curve=start is not None and bar.time >= start)
    for decision in waiting[next_decision:]:
        venue.decide(decision, None, entry_type, entry_tif, risk_fraction)
    venue.finish(end)
    return venue.result()


@dataclass
class _Group:
    """One decision's bracket, with a holding of its own that books its round trip's P&L by the same rules."""

    decision: Decision
    holding: Holding = field(default_factory=Holding)
    fees: Decimal = Decimal(0)
    entered: tuple[datetime, OrderSide, Decimal, Decimal] | None = None
    """When the entry filled, its side, quantity and price."""
    exited: tuple[datetime, Decimal, ExitReason] | None = None
    """When the exit filled, its price and why (stop, target, end_of_period)."""

    @property
    def entered_at(self) -> datetime:
        return self.entered[0] if self.entered is not None else self.decision.decided_at

    def book(self, side: OrderSide, quantity: Decimal, price: Decimal, commission: Decimal, at: datetime) -> None:
        self.holding = apply_fill(self.holding, side, quantity, price, commission, at).holding
        self.fees += commission

    def trade(self) -> SimulatedTrade:
        assert self.entered is not None and self.exited is not None
        entry_at, side, quantity, entry_price = self.entered
        exit_at, exit_price, reason = self.exited
        return SimulatedTrade(
            decision_seq=self.decision.seq,
            execution_id=self.decision.execution_id,
            side="long" if side is OrderSide.BUY else "short",
            quantity=quantity,
            entry_at=entry_at,
            entry_price=entry_price,
            exit_at=exit_at,
            exit_price=exit_price,
            exit_reason=reason,
            pnl=self.holding.realized_pnl,
            fees=self.fees,
        )


_EXIT_REASON: dict[OrderRole, ExitReason] = {OrderRole.STOP_LOSS: "stop", OrderRole.TAKE_PROFIT: "target"}


class _SimulatedVenue:
    """The simulated book (cash, the position, working orders as the broker records them) and its venue."""

    def __init__(
        self,
        instrument: ResolvedSymbol,
        initial_cash: Decimal,
        limits: TradingLimits,
        costs: PaperCosts,
        guards: Guardrails,
    ) -> None:
        self._instrument = instrument
        self._initial_cash = initial_cash
        self._limits = limits
        self._costs = costs
        self._guards = guards
        self._cash = initial_cash
        self._holding = Holding()
        self._working: list[OrderRecord] = []
        self._arrived: set[str] = set()
        self._groups: dict[str, _Group] = {}
        self._last: Bar | None = None
        self._before_last: Bar | None = None
        self._snapshots: list[tuple[datetime, Decimal]] = []
        """Equity at each bar's close, by bar start: the day's starting equity is read from them."""
        self._curve: list[EquityPoint] = []
        self._exposed_bars = 0
        self._fees = Decimal(0)
        self._refusals: list[Refused] = []
        self._lapses: list[Lapsed] = []

    # Deciding ------------------------------------------------------------------------------

    def decide(
        self,
        decision: Decision,
        next_start: datetime | None,
        entry_type: EntryType,
        entry_tif: TimeInForce,
        risk_fraction: Decimal | None,
    ) -> None:
        """Place the bracket a decision's signal asks for, as the broker would, or record the risk engine's refusal.

        ``next_start`` is the start of the decision's next bar (None: there is none).
        """
        msg = decision.signal
        if msg is None or msg.signal.action is Action.HOLD:
            return
        plan = plan_for_signal(msg, entry_type, entry_tif, risk_fraction)
        if plan.instrument.conid != self._instrument.conid:
            traded, signalled = self._instrument.symbol, plan.instrument.symbol
            text = f"the backtest trades {traded}, but decision {decision.seq} signals {signalled}"
            raise ValueError(text)
        if plan.group_ref in self._groups:
            return
        now = decision.decided_at
        mark = msg.provenance.reference_price if msg.provenance is not None else self._closed_by(now, next_start)
        position = self._position(now, mark)
        portfolio = value_portfolio(self._account(now), [position], self._day_start_equity(now))
        exposure = exposure_of(plan, portfolio, [position], self._working, {self._instrument.conid: mark})
        verdict = assess(plan, exposure, self._limits, TradingState.ACTIVE, "", now, self._guards)
        if isinstance(verdict, Refusal):
            self._refusals.append(Refused(decision.seq, verdict.rule.value, verdict.reason))
            return
        self._groups[plan.group_ref] = _Group(decision)
        for ticket in plan.tickets(verdict.quantity):
            self._working.append(self._record(plan, ticket, verdict.sizing, now))

    def _record(self, plan: GroupPlan, ticket: OrderTicket, sizing: str, now: datetime) -> OrderRecord:
        """An accepted order as the broker's book holds it: an entry works from now, a child once its entry filled."""
        return OrderRecord(
            id=order_id(ticket.client_ref),
            ticket=ticket,
            group_ref=plan.group_ref,
            source=plan.source,
            venue=Venue.PAPER,
            execution_id=plan.execution_id,
            strategy_id=plan.strategy_id,
            signal_id=plan.signal_id,
            causation_id=plan.causation_id,
            status=OrderStatus.ACCEPTED,
            sizing=sizing,
            working_since=now if ticket.role is OrderRole.ENTRY else None,
            sent_at=now,
            created_at=now,
        )

    # Trading one bar -----------------------------------------------------------------------

    def trade(self, bar: Bar, *, curve: bool) -> None:
        """Expire what has expired, let new entries arrive at the open, fill what the bar reaches, mark the close."""
        self._expire(bar.time)
        exposed = self._holding.quantity != 0
        self._arrive(bar)
        exposed = exposed or self._holding.quantity != 0
        for _ in range(_MAX_FILL_ROUNDS):
            if not self._fill_one(bar):
                break
            exposed = exposed or self._holding.quantity != 0
        self._before_last, self._last = self._last, bar
        equity = self._equity(bar.time, self._last_close())
        self._snapshots.append((bar.time, equity))
        if curve:
            self._curve.append(EquityPoint(time=bar.time, equity=equity))
            self._exposed_bars += exposed

    def _expire(self, now: datetime) -> None:
        """The paper venue's housekeeping at ``now``: DAY orders whose trading day has ended."""
        for order in list(self._working):
            if order.ticket.tif is not TimeInForce.DAY or order not in self._working:
                continue
            calendar = calendar_for(order.ticket.instrument)
            began = order.working_since or order.created_at
            if calendar is None or began is None:
                continue
            ends = calendar.session_end(began)
            if now >= ends:
                self._end(order, f"DAY order expired at {ends.isoformat()}", ends)

    def _arrive(self, bar: Bar) -> None:
        """Entries meet the market at ``bar``'s open: filled there when marketable (paper's arrival rule)."""
        open_ = Decimal(str(bar.open))
        for order in list(self._working):
            ticket = order.ticket
            if ticket.role is not OrderRole.ENTRY or ticket.client_ref in self._arrived:
                continue
            self._arrived.add(ticket.client_ref)
            price = fill_on_arrival(ticket, open_, self._costs)
            if price is not None:
                self._fill(order, price, bar.time)
            elif ticket.tif is TimeInForce.IOC:
                self._end(order, "IOC: not marketable on arrival", bar.time)

    def _fill_one(self, bar: Bar) -> bool:
        """Fill the working order ``bar`` reaches first (stops before limits), as the paper venue does."""
        best: tuple[int, OrderRecord, Decimal] | None = None
        for order in self._working:
            if order.working_since is None or bar.time < order.working_since:
                continue
            price = fill_in_bar(order.ticket, bar, self._costs)
            if price is not None and (best is None or fill_priority(order.ticket) < best[0]):
                best = (fill_priority(order.ticket), order, price)
        if best is None:
            return False
        self._fill(best[1], best[2], bar.time)
        return True

    def _fill(self, order: OrderRecord, price: Decimal, at: datetime) -> None:
        """Book a complete fill (paper orders fill at once, completely), start the children, end the OCA siblings."""
        ticket = order.ticket
        quantity = order.remaining
        commission = self._costs.commission(quantity, price)
        self._book(ticket.side, quantity, price, commission, at)
        group = self._groups[order.group_ref]
        group.book(ticket.side, quantity, price, commission, at)
        self._working.remove(order)
        if ticket.role is OrderRole.ENTRY:
            group.entered = (at, ticket.side, quantity, price)
            self._working = [
                replace(other, working_since=other.working_since or at)
                if other.ticket.parent_ref == ticket.client_ref
                else other
                for other in self._working
            ]
            return
        group.exited = (at, price, _EXIT_REASON[ticket.role])
        if ticket.oca_group is not None:
            self._working = [other for other in self._working if other.ticket.oca_group != ticket.oca_group]

    def _book(self, side: OrderSide, quantity: Decimal, price: Decimal, commission: Decimal, at: datetime) -> None:
        effect = apply_fill(self._holding, side, quantity, price, commission, at)
        self._holding = effect.holding
        self._cash += effect.cash_change
        self._fees += commission

    def _end(self, order: OrderRecord, reason: str, at: datetime) -> None:
        """An order stops working unfilled; an entry takes its children with it, and its decision lapses."""
        self._working.remove(order)
        if order.ticket.role is not OrderRole.ENTRY:
            return
        self._working = [other for other in self._working if other.ticket.parent_ref != order.client_ref]
        self._lapses.append(Lapsed(self._groups[order.group_ref].decision.seq, at, reason))

    # The end -------------------------------------------------------------------------------

    def finish(self, end: datetime) -> None:
        """Entries still working lapse; brackets still open close at the last close, their commission paid."""
        for order in [order for order in self._working if order.ticket.role is OrderRole.ENTRY]:
            self._end(order, "not filled by the end of the period", end)
        self._working.clear()
        last = self._last
        for group in self._groups.values():
            held = group.holding.quantity
            if group.entered is None or group.exited is not None or held == 0:
                continue
            assert last is not None, "an entry filled, so a bar was seen"
            side = OrderSide.SELL if held > 0 else OrderSide.BUY
            price = Decimal(str(last.close))
            commission = self._costs.commission(abs(held), price)
            self._book(side, abs(held), price, commission, last.time)
            group.book(side, abs(held), price, commission, last.time)
            group.exited = (last.time, price, "end_of_period")
        if self._curve and last is not None and self._curve[-1].time == last.time:
            self._curve[-1] = EquityPoint(time=last.time, equity=self._equity(last.time, Decimal(str(last.close))))

    def result(self) -> Simulation:
        traded = sorted((group for group in self._groups.values() if group.entered), key=lambda group: group.entered_at)
        return Simulation(
            trades=tuple(group.trade() for group in traded),
            equity=tuple(self._curve),
            fees=self._fees,
            exposure=self._exposed_bars / len(self._curve) if self._curve else None,
            refusals=tuple(self._refusals),
            lapses=tuple(self._lapses),
        )

    # Valuation -----------------------------------------------------------------------------

    def _last_close(self) -> Decimal | None:
        return Decimal(str(self._last.close)) if self._last is not None else None

    def _closed_by(self, now: datetime, next_start: datetime | None) -> Decimal | None:
        """The close of the last bar known closed at ``now``: the last bar seen when the next one started by ``now``,
        else the one before it (the last may still be trading at ``now``)."""
        closed = self._last if next_start is not None and next_start <= now else self._before_last
        return Decimal(str(closed.close)) if closed is not None else None

    def _position(self, now: datetime, mark: Decimal | None) -> PositionRecord:
        holding = self._holding
        return PositionRecord(
            instrument=self._instrument,
            quantity=holding.quantity,
            average_cost=holding.average_cost,
            realized_pnl=holding.realized_pnl,
            opened_at=holding.opened_at,
            updated_at=now,
            mark_price=mark,
            marked_at=now if mark is not None else None,
        )

    def _account(self, now: datetime) -> AccountRecord:
        return AccountRecord(
            venue=Venue.PAPER,
            mode="paper",
            account_id=_ACCOUNT_ID,
            currency=self._instrument.currency,
            initial_cash=self._initial_cash,
            cash=self._cash,
            connected=True,
            updated_at=now,
        )

    def _equity(self, now: datetime, mark: Decimal | None) -> Decimal:
        return value_portfolio(self._account(now), [self._position(now, mark)], None).equity

    def _day_start_equity(self, now: datetime) -> Decimal | None:
        """Equity at the start of ``now``'s UTC day: at the close of the last bar that started before it."""
        index = bisect_left(self._snapshots, trading_day_start(now), key=lambda snapshot: snapshot[0])
        return self._snapshots[index - 1][1] if index > 0 else None
