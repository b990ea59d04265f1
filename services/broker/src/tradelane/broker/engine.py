"""The broker: signals and manual orders become checked orders; venue events become the book.

Two halves, one room each: :mod:`tradelane.broker.placement` decides, records and sends orders
(each once, under the risk engine) and asks for cancels; :mod:`tradelane.broker.reports` applies
what the venue reports back (statuses through the order state machine, fills, positions, cash),
each event in its own transaction. This module wires them to one venue and keeps the chores
that span both: start-up and reconciliation, prices, expiry, snapshots and the daily loss watch.

A redelivered signal finds its group and sends nothing twice, and a crash between recording and
sending leaves orders marked unsent (or sent but unacknowledged), which :meth:`TradingEngine.start`
reconciles with the venue and sends exactly once. Every change writes its events to the outbox
in the same transaction; they are published after commit.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from decimal import Decimal

from tradelane.broker.outbox import Outbox
from tradelane.broker.placement import Placement, Redrive, StrategySource
from tradelane.broker.reconcile import corrections
from tradelane.broker.reports import VenueReports, halt_on_daily_loss
from tradelane.broker.venue import ConnectionRestored, OrderVenue, VenueEvent
from tradelane.contracts.book import OrderRecord
from tradelane.contracts.envelope import utc_now
from tradelane.contracts.events import SignalGenerated
from tradelane.contracts.market import Bar, ResolvedSymbol
from tradelane.contracts.trading import (
    CancelOrder,
    CancelReply,
    OrderPlaced,
    PlaceOrder,
    TimeInForce,
    trading_day_start,
)
from tradelane.store.book.transactions import BookRepository
from tradelane.trading.orders import EntryType
from tradelane.trading.risk import Guardrails

_MAX_FILL_ROUNDS = 50


class TradingEngine:
    """Places orders through one venue under the risk engine, and keeps the book from the venue's events."""

    def __init__(
        self,
        repository: BookRepository,
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
        self._clock = clock
        self.reports = VenueReports(repository, venue, outbox, clock)
        self.placement = Placement(
            repository,
            venue,
            outbox,
            strategies,
            apply=self.apply,
            entry_type=entry_type,
            entry_tif=entry_tif,
            trade_replays=trade_replays,
            guards=guards or Guardrails(),
            clock=clock,
        )
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
        await self.placement.send_unsent()

    # What is asked of the venue ------------------------------------------------------------

    async def on_signal(self, msg: SignalGenerated, redrive: Redrive | None = None) -> list[OrderRecord]:
        """Place the bracket a signal asks for, once (see :meth:`Placement.on_signal`)."""
        return await self.placement.on_signal(msg, redrive)

    async def place_manual(self, command: PlaceOrder) -> OrderPlaced:
        """Place a user's order (or bracket); the reply says whether the risk engine let it through."""
        return await self.placement.place_manual(command)

    async def cancel(self, command: CancelOrder) -> CancelReply:
        """Cancel an order; the reply says whether the venue did, is doing, or refused it (and why)."""
        return await self.placement.cancel(command)

    # What the venue reports ----------------------------------------------------------------

    async def apply(self, event: VenueEvent) -> None:
        """Apply one venue event to the book (idempotent), then publish what it produced.

        After a reconnect (the venue reports it once it has reconciled), orders it did not know are sent again.
        """
        await self.reports.apply(event)
        if isinstance(event, ConnectionRestored):
            await self.reconcile()

    # Prices and chores -----------------------------------------------------------------

    async def on_bars(self, symbol: ResolvedSymbol, bars: Sequence[Bar]) -> None:
        """:meth:`on_market` with the bars at hand."""

        async def at_hand() -> Sequence[Bar]:
            return bars

        await self.on_market(symbol, bars[-1], at_hand)

    async def on_market(self, symbol: ResolvedSymbol, last: Bar, bars: Callable[[], Awaitable[Sequence[Bar]]]) -> None:
        """Keep the instrument's mark (its ``last`` bar), let the venue fill working orders against the bars, watch
        the daily loss. The bars are fetched (``bars()``) only when an order of the instrument is working: most
        runs have none."""
        await self._repository.upsert_instrument(symbol, Decimal(str(last.close)), last.time)
        fetched: Sequence[Bar] | None = None
        for _ in range(_MAX_FILL_ROUNDS):
            working = await self._repository.working_orders(symbol.conid)
            if not working:
                break
            fetched = fetched if fetched is not None else await bars()
            if not await self._venue.on_prices(symbol, fetched, working):
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
            await halt_on_daily_loss(tx, self._clock())
