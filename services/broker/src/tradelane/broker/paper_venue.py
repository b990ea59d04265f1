"""The paper venue: the default, a simulator inside the broker that fills by the rules of
:mod:`tradelane.trading.paper`.

It holds no state of its own: the book's working orders are its order book, and the
instrument marks kept from the bus are its prices. After a restart it simply looks at every
working order again (:meth:`PaperVenue.resume`), which makes a crash between recording an
order and filling it harmless: the order is filled once, when the broker is back.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from decimal import Decimal

import structlog

from tradelane.broker.reconcile import Holdings
from tradelane.broker.venue import Accepted, Cancelled, CancelResult, EventSink, Executed, Unsent
from tradelane.contracts.book import OrderRecord
from tradelane.contracts.market import Bar, ResolvedSymbol
from tradelane.contracts.strategy import SymbolRef
from tradelane.contracts.trading import OrderStatus, TimeInForce, TradingMode, Venue
from tradelane.trading.calendar import calendar_for
from tradelane.trading.paper import PaperCosts, fill_in_bar, fill_on_arrival, fill_priority

log = structlog.get_logger(__name__)

MarkLookup = Callable[[int], Awaitable[Decimal | None]]


def paper_exec_id(client_ref: str) -> str:
    """A paper order fills once, completely: its execution id follows from its reference."""
    return f"paper-{client_ref}"


class PaperVenue:
    """Simulated execution against the latest marks and the bars published on the bus."""

    name = Venue.PAPER
    mode: TradingMode = "paper"
    handles_brackets = False

    def __init__(self, costs: PaperCosts, cash: Decimal, marks: MarkLookup, clock: Callable[[], datetime]) -> None:
        self._costs = costs
        self._cash = cash
        self._marks = marks
        self._clock = clock
        self._sink: EventSink | None = None

    @property
    def account_id(self) -> str:
        return ""

    def bind(self, sink: EventSink) -> None:
        self._sink = sink

    async def _emit(self, event: Accepted | Executed | Cancelled | Unsent) -> None:
        assert self._sink is not None, "bind() the venue to the broker before using it"
        await self._sink(event)

    async def start(self) -> None:
        log.info("paper_venue_started", **self._costs.__dict__)

    async def close(self) -> None:
        return None

    async def initial_cash(self) -> Decimal:
        return self._cash

    async def place(self, orders: Sequence[OrderRecord]) -> None:
        """Accept each order; fill an entry at once when it is marketable against the mark."""
        for order in orders:
            now = self._clock()
            if order.status is OrderStatus.PENDING_SUBMIT:
                await self._emit(Accepted(order.client_ref, paper_exec_id(order.client_ref), now))
            if order.ticket.parent_ref is not None:
                continue
            await self._on_arrival(order, now)

    async def _on_arrival(self, order: OrderRecord, now: datetime) -> None:
        mark = await self._marks(order.ticket.instrument.conid)
        price = fill_on_arrival(order.ticket, mark, self._costs) if mark is not None else None
        if price is not None:
            await self._fill(order, price, now)
        elif order.ticket.tif is TimeInForce.IOC:
            await self._emit(Cancelled(order.client_ref, "IOC: not marketable on arrival", now))

    async def _fill(self, order: OrderRecord, price: Decimal, now: datetime) -> None:
        quantity = order.remaining
        commission = self._costs.commission(quantity, price)
        await self._emit(Executed(order.client_ref, paper_exec_id(order.client_ref), quantity, price, commission, now))

    async def cancel(self, order: OrderRecord) -> CancelResult:
        await self._emit(Cancelled(order.client_ref, "cancelled on request", self._clock()))
        return CancelResult("cancelled")

    async def resume(self, working: Sequence[OrderRecord]) -> None:
        """Look at every working order again after a restart.

        An order sent but never acknowledged was lost with the process: it is reported unsent, so
        the broker sends it again (once). An entry already working is checked against the mark,
        as on arrival.
        """
        for order in working:
            if order.status is OrderStatus.PENDING_CANCEL:
                await self._emit(Cancelled(order.client_ref, "cancel completed after a restart", self._clock()))
            elif order.status is OrderStatus.PENDING_SUBMIT and order.sent_at is not None:
                detail = "sent to the paper venue but not acknowledged before the broker stopped: sending it again"
                await self._emit(Unsent(order.client_ref, detail))
            elif order.status is not OrderStatus.PENDING_SUBMIT and order.ticket.parent_ref is None:
                await self._on_arrival(order, self._clock())

    async def holdings(self) -> Holdings | None:
        return None

    async def on_prices(self, instrument: ResolvedSymbol, bars: Sequence[Bar], working: Sequence[OrderRecord]) -> bool:
        """Fill the first working order a bar reaches; True when one filled (look again: its OCA sibling is gone)."""
        del instrument
        candidates = [order for order in working if _can_execute(order)]
        best: tuple[int, int, OrderRecord, Decimal] | None = None
        for order in candidates:
            assert order.working_since is not None
            for index, bar in enumerate(bars):
                if bar.time < order.working_since:
                    continue
                price = fill_in_bar(order.ticket, bar, self._costs)
                if price is not None:
                    rank = (index, fill_priority(order.ticket), order, price)
                    if best is None or rank[:2] < best[:2]:
                        best = rank
                    break
        if best is None:
            return False
        await self._fill(best[2], best[3], self._clock())
        return True

    async def housekeeping(self, working: Sequence[OrderRecord], now: datetime) -> None:
        """Expire DAY orders whose trading day has ended."""
        for order in working:
            if order.ticket.tif is not TimeInForce.DAY or order.status is OrderStatus.PENDING_SUBMIT:
                continue
            calendar = calendar_for(order.ticket.instrument)
            began = order.working_since or order.sent_at or order.created_at
            if calendar is None or began is None:
                continue
            ends = calendar.session_end(began)
            if now >= ends:
                await self._emit(Cancelled(order.client_ref, f"DAY order expired at {ends.isoformat()}", now))

    async def resolve(self, ref: SymbolRef) -> ResolvedSymbol | None:
        del ref
        return None


def _can_execute(order: OrderRecord) -> bool:
    return order.status in {OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED} and order.working_since is not None
