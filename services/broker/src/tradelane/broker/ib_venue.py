"""The IB venue: orders through ``ib_async`` to TWS / IB Gateway, and IB's news about them as venue events.

- One ``IB`` client with the broker's own API client id, kept connected by the shared
  supervisor (:class:`tradelane.ib.connection.IbConnection`, as market-data's is): after a drop
  it reconnects with backoff and jitter and the venue reports ``ConnectionRestored``, upon which
  the broker reconciles.
- The account is ``TRADELANE_IB_ACCOUNT``, or the only one the login manages. In paper mode an
  account that is not a paper account (paper ids start with D) is refused at start.
- ``ib_async`` calls back synchronously; every event goes through one queue and one worker, in
  order, to the broker. A failure to apply one (the book briefly unavailable) is retried.
- A bracket is sent as IB expects: the entry with ``transmit=False``, then the take-profit and the
  stop-loss with the entry's ``parentId``, the last one transmitting all three. IB holds the
  children until the entry fills and makes them one OCA group.
- A cancel waits (up to a timeout) for IB's answer: cancelled, or refused with IB's code and text.
- Reconciliation (:meth:`IbVenue.resume`) matches the book's working orders with IB's open orders
  and today's executions by ``orderRef``, adopts what IB has, resends what it never received, and
  applies executions the book missed; :meth:`IbVenue.holdings` gives IB's positions and cash.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import asyncpg
import structlog

from tradelane.broker.ib_orders import status_event
from tradelane.broker.reconcile import Holdings, VenuePosition
from tradelane.broker.venue import (
    Accepted,
    Cancelled,
    CancelResult,
    ConnectionLost,
    ConnectionRestored,
    EventSink,
    Executed,
    Noticed,
    Rejected,
    Unsent,
    VenueEvent,
    VenueUnavailableError,
)
from tradelane.contracts.book import OrderRecord
from tradelane.contracts.envelope import utc_now
from tradelane.contracts.market import Bar, ResolvedSymbol
from tradelane.contracts.strategy import SymbolRef
from tradelane.contracts.trading import ORDER_REF_PREFIX, OrderStatus, TradingMode, Venue
from tradelane.ib.codes import CANCEL_REFUSED_CODES, CONNECTIVITY_LOST_CODES, CONNECTIVITY_RESTORED_CODES
from tradelane.ib.connection import IbConnection, IbEndpoint
from tradelane.ib.orders import (
    CANCELLED_STATUSES,
    IB,
    WORKING_STATUSES,
    CommissionReport,
    Contract,
    Fill,
    IbOrderError,
    RequestError,
    Trade,
    contract_of,
    decimal_of,
    error_of_log,
    instrument_of,
    is_paper_account,
    order_of,
)
from tradelane.runtime.retrying import Backoff, retry

log = structlog.get_logger(__name__)

_BOOK_UNAVAILABLE = (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError)
"""Postgres briefly unreachable: applying the event again later will work."""
_BOOK_BACKOFF = Backoff(initial=0.5, cap=30.0)
"""How an IB event waits for the book to come back: 0.5 s, doubling up to 30 s, for as long as it takes."""
_SECURITY_TYPES = {"STK": "STK", "ETF": "STK", "CASH": "CASH", "FUT": "FUT", "IND": "IND", "CRYPTO": "CRYPTO"}


class IbAccountRefusedError(RuntimeError):
    """The IB login's account cannot be traded with these settings (live account in paper mode, unknown account)."""


@dataclass(frozen=True)
class IbVenueSettings:
    host: str
    port: int
    client_id: int
    account: str | None
    mode: TradingMode
    timeout: float = 10.0
    cancel_timeout: float = 5.0
    reconnect_initial: float = 1.0
    reconnect_max: float = 60.0

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def endpoint(self) -> IbEndpoint:
        """The trading session the connection supervisor keeps up."""
        return IbEndpoint(
            host=self.host,
            port=self.port,
            client_id=self.client_id,
            account=self.account,
            timeout=self.timeout,
            reconnect_initial=self.reconnect_initial,
            reconnect_max=self.reconnect_max,
            trading=True,
            client_id_setting="TRADELANE_BROKER_IB_CLIENT_ID",
        )


class IbVenue:
    """Interactive Brokers through ``ib_async``; see the module docstring."""

    name = Venue.IB
    handles_brackets = True

    def __init__(
        self, settings: IbVenueSettings, *, ib: IB | None = None, clock: Callable[[], datetime] = utc_now
    ) -> None:
        self._settings = settings
        self.mode: TradingMode = settings.mode
        self._connection = IbConnection(settings.endpoint(), ib=ib, on_reconnected=self._on_reconnected)
        self._ib = self._connection.ib
        self._clock = clock
        self._sink: EventSink | None = None
        self._events: asyncio.Queue[VenueEvent] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._account = ""
        self._closing = False
        self._cancels: dict[str, asyncio.Future[CancelResult]] = {}
        self._acknowledged: set[str] = set()

    @property
    def account_id(self) -> str:
        return self._account

    def bind(self, sink: EventSink) -> None:
        self._sink = sink

    async def start(self) -> None:
        """Connect, choose and check the account, and start reporting IB's news to the broker."""
        ib = self._ib
        ib.orderStatusEvent += self._on_status
        ib.commissionReportEvent += self._on_commission
        ib.errorEvent += self._on_error
        ib.disconnectedEvent += self._on_disconnected
        await self._connection.start()
        if not self._connection.connected:
            failure = self._connection.status().last_error
            await self.close()  # the broker does not start without IB: no attempt goes on in the background
            settings = self._settings
            msg = (
                f"cannot connect to TWS / IB Gateway at {settings.address} as client id {settings.client_id} "
                f"({failure.message if failure is not None else 'no answer'}); "
                "check TRADELANE_IB_HOST / TRADELANE_IB_PORT and that the API is on"
            )
            raise VenueUnavailableError(msg)
        try:
            self._account = self._choose_account(ib.managedAccounts())
        except IbAccountRefusedError:
            await self.close()  # the supervisor would otherwise keep a session for an account we refuse
            raise
        self._tasks.append(asyncio.create_task(self._deliver(), name="ib-venue-events"))
        log.info("ib_venue_connected", address=self._settings.address, account=self._account, mode=self.mode)

    async def close(self) -> None:
        self._closing = True
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._connection.close()

    def _choose_account(self, accounts: Sequence[str]) -> str:
        wanted = self._settings.account
        if wanted and wanted not in accounts:
            msg = f"IB account {wanted} is not managed by this login; it manages {', '.join(accounts) or 'none'}"
            raise IbAccountRefusedError(msg)
        if not wanted and len(accounts) != 1:
            msg = f"this login manages {len(accounts)} accounts ({', '.join(accounts)}): set TRADELANE_IB_ACCOUNT"
            raise IbAccountRefusedError(msg)
        account = wanted or accounts[0]
        if self.mode == "paper" and not is_paper_account(account):
            msg = (
                f"IB account {account} is a live account (paper accounts start with D) but TRADELANE_TRADING_MODE is "
                "paper: log in with a paper account, or set TRADELANE_TRADING_MODE=live and "
                "TRADELANE_LIVE_TRADING_CONFIRM=yes to trade it with real money"
            )
            raise IbAccountRefusedError(msg)
        return account

    # What IB says ------------------------------------------------------------------------

    def _report(self, event: VenueEvent) -> None:
        self._events.put_nowait(event)

    async def _deliver(self) -> None:
        # Ends at close even when the cancel is lost: asyncio.wait_for under a NATS publish of the sink can return
        # its result instead of raising CancelledError (CPython gh-86296), and close() would wait for ever.
        while not self._closing:
            event = await self._events.get()
            try:
                await self._apply(event)
            finally:
                self._events.task_done()

    async def _apply(self, event: VenueEvent) -> None:
        sink = self._sink
        assert sink is not None, "bind() the venue to the broker before starting it"

        def log_retry(failures: int, error: BaseException, wait: float) -> None:
            log.warning("ib_event_retry", venue_event=type(event).__name__, error=str(error), retry_in_seconds=wait)

        try:
            await retry(lambda _: sink(event), wait=_BOOK_BACKOFF, retry_on=_BOOK_UNAVAILABLE, on_retry=log_retry)
        except Exception:
            # The next reconciliation (restart or reconnect) finds what this event would have recorded.
            log.exception("ib_event_not_applied", venue_event=repr(event))

    def _on_status(self, trade: Trade) -> None:
        ref = trade.order.orderRef
        if not ref.startswith(ORDER_REF_PREFIX):
            return
        status = trade.orderStatus.status
        entry = trade.log[-1] if trade.log else None
        error = error_of_log(entry.errorCode, entry.message) if entry is not None and entry.errorCode else None
        if status in WORKING_STATUSES:
            self._acknowledged.add(ref)
        self._answer_cancel(ref, status, error)
        event = status_event(
            ref,
            status,
            error,
            acknowledged=ref in self._acknowledged,
            broker_order_id=str(trade.order.orderId),
            at=self._clock(),
        )
        if event is not None:
            self._report(event)

    def _answer_cancel(self, ref: str, status: str, error: IbOrderError | None) -> None:
        waiter = self._cancels.get(ref)
        if waiter is None or waiter.done():
            return
        if error is not None and error.code in CANCEL_REFUSED_CODES:
            waiter.set_result(CancelResult("refused", f"IB {error.code}: {error.text}"))
        elif status in CANCELLED_STATUSES:
            waiter.set_result(CancelResult("cancelled"))
        elif status == "Filled":
            waiter.set_result(CancelResult("refused", "the order filled before IB could cancel it"))

    def _on_commission(self, trade: Trade, fill: Fill, report: CommissionReport) -> None:
        ref = fill.execution.orderRef or trade.order.orderRef
        if ref.startswith(ORDER_REF_PREFIX):
            self._report(_executed(ref, fill, report.commission))

    def _on_error(self, req_id: int, code: int, text: str, contract: Contract | None) -> None:
        del contract
        if code in CONNECTIVITY_LOST_CODES:
            self._report(ConnectionLost(f"IB {code}: {text}", self._clock()))
        elif code in CONNECTIVITY_RESTORED_CODES:
            self._report(ConnectionRestored(self._clock()))
        elif code in CANCEL_REFUSED_CODES:
            for trade in self._ib.trades():
                if trade.order.orderId == req_id:
                    self._answer_cancel(trade.order.orderRef, trade.orderStatus.status, IbOrderError(code, text))
        else:  # order rejections reach the engine as the order's status, and are logged there
            log.info("ib_notice", code=code, text=text, req_id=req_id)

    def _on_disconnected(self) -> None:
        if self._closing:
            return
        self._report(
            ConnectionLost(f"the connection to TWS / IB Gateway at {self._settings.address} dropped", self._clock())
        )

    def _on_reconnected(self) -> None:
        """The supervisor has the session back after a drop: the broker reconciles on ``ConnectionRestored``."""
        log.info("ib_venue_reconnected", address=self._settings.address)
        self._report(ConnectionRestored(self._clock()))

    # What the broker asks ----------------------------------------------------------------

    def _require_connection(self) -> None:
        if not self._ib.isConnected():
            msg = f"not connected to TWS / IB Gateway at {self._settings.address}"
            raise VenueUnavailableError(msg)

    def _open_trade(self, ref: str) -> Trade | None:
        return next((trade for trade in self._ib.openTrades() if trade.order.orderRef == ref), None)

    async def initial_cash(self) -> Decimal:
        """A new book starts at the account's net liquidation value (its positions then come from reconciling)."""
        value = self._account_value("NetLiquidation")
        if value is None:
            msg = f"IB reported no NetLiquidation for account {self._account}; is the account's data subscribed?"
            raise VenueUnavailableError(msg)
        return value

    def _account_value(self, tag: str) -> Decimal | None:
        values = [
            value
            for value in self._ib.accountValues(self._account)
            if value.tag == tag and value.currency not in {"", "BASE"}
        ]
        return Decimal(values[0].value) if values else None

    async def place(self, orders: Sequence[OrderRecord]) -> None:
        """Send orders in the order given; a bracket's last order transmits the whole bracket."""
        self._require_connection()
        sent: dict[str, int] = {}
        for index, order in enumerate(orders):
            ticket = order.ticket
            parent_id = 0
            if ticket.parent_ref is not None:
                parent_id = sent.get(ticket.parent_ref) or self._order_id_of(ticket.parent_ref)
                if not parent_id:
                    self._report(
                        Rejected(
                            order.client_ref, None, f"its entry {ticket.parent_ref} is not working at IB", self._clock()
                        )
                    )
                    continue
            bracket = ticket.parent_ref or ticket.client_ref
            transmit = not any(
                (later.ticket.parent_ref or later.client_ref) == bracket for later in orders[index + 1 :]
            )
            trade = self._ib.placeOrder(
                contract_of(ticket.instrument),
                order_of(ticket, account=self._account, parent_id=parent_id, transmit=transmit),
            )
            sent[order.client_ref] = trade.order.orderId
            log.info("ib_order_sent", client_ref=order.client_ref, order_id=trade.order.orderId, transmit=transmit)

    def _order_id_of(self, ref: str) -> int:
        trade = self._open_trade(ref)
        return trade.order.orderId if trade is not None else 0

    async def cancel(self, order: OrderRecord) -> CancelResult:
        """Ask IB to cancel and wait for its answer (then its event is applied before this returns)."""
        self._require_connection()
        trade = self._open_trade(order.client_ref)
        if trade is None:
            return CancelResult(
                "refused", f"IB has no working order with orderRef {order.client_ref}: it has filled or ended"
            )
        waiter: asyncio.Future[CancelResult] = asyncio.get_running_loop().create_future()
        self._cancels[order.client_ref] = waiter
        try:
            self._ib.cancelOrder(trade.order)
            try:
                result = await asyncio.wait_for(asyncio.shield(waiter), self._settings.cancel_timeout)
            except TimeoutError:
                result = CancelResult(
                    "pending_cancel", f"IB has not confirmed the cancel within {self._settings.cancel_timeout:g} s"
                )
        finally:
            self._cancels.pop(order.client_ref, None)
        await self._events.join()
        return result

    async def resume(self, working: Sequence[OrderRecord]) -> None:
        """Match the book's working orders with IB's open orders and today's executions by orderRef."""
        self._require_connection()
        assert self._sink is not None
        try:
            open_trades = await self._ib.reqOpenOrdersAsync()
            fills = await self._ib.reqExecutionsAsync()
        except RequestError as error:
            msg = f"IB refused the reconciliation requests: {error}"
            raise VenueUnavailableError(msg) from error
        open_by_ref = {trade.order.orderRef: trade for trade in open_trades if trade.order.orderRef}
        fills_by_ref: dict[str, list[Fill]] = defaultdict(list)
        for fill in fills:
            fills_by_ref[fill.execution.orderRef].append(fill)
        for order in working:
            for event in self._reconcile(
                order, open_by_ref.get(order.client_ref), fills_by_ref.get(order.client_ref, [])
            ):
                await self._sink(event)
        known = {order.client_ref for order in working}
        for ref, ref_fills in fills_by_ref.items():
            if ref.startswith(ORDER_REF_PREFIX) and ref not in known:
                for fill in ref_fills:
                    await self._sink(_executed(ref, fill, fill.commissionReport.commission))

    def _reconcile(self, order: OrderRecord, trade: Trade | None, fills: Sequence[Fill]) -> list[VenueEvent]:
        ref = order.client_ref
        now = self._clock()
        events: list[VenueEvent] = [_executed(ref, fill, fill.commissionReport.commission) for fill in fills]
        if trade is not None:
            self._acknowledged.add(ref)
            if order.status is OrderStatus.PENDING_SUBMIT:
                detail = f"IB already had {ref} (order id {trade.order.orderId}): adopted, not sent again"
                events += [Noticed("adopted", detail, ref), Accepted(ref, str(trade.order.orderId), now)]
            return events
        if fills:
            return events
        if order.status is OrderStatus.PENDING_SUBMIT:
            if order.sent_at is not None:
                events.append(Unsent(ref, f"IB has no order with orderRef {ref}: it never arrived; sending it again"))
            return events
        detail = f"{ref} is no longer working at IB and has no execution today (found when reconciling)"
        return [*events, Noticed("vanished", detail, ref), Cancelled(ref, detail, now)]

    async def holdings(self) -> Holdings:
        """IB's positions in this account, and its cash."""
        self._require_connection()
        positions = await self._ib.reqPositionsAsync()
        held: dict[int, VenuePosition] = {}
        for position in positions:
            instrument = instrument_of(position.contract)
            if position.account != self._account or instrument is None:
                continue
            held[instrument.conid] = VenuePosition(
                instrument, decimal_of(position.position), decimal_of(position.avgCost)
            )
        return Holdings(positions=held, cash=self._account_value("TotalCashValue"))

    async def on_prices(self, instrument: ResolvedSymbol, bars: Sequence[Bar], working: Sequence[OrderRecord]) -> bool:
        del instrument, bars, working
        return False

    async def housekeeping(self, working: Sequence[OrderRecord], now: datetime) -> None:
        """Nothing: IB expires DAY orders itself and reports it."""
        del working, now

    async def resolve(self, ref: SymbolRef) -> ResolvedSymbol | None:
        """The instrument IB knows by this reference (contract details), None when it knows none or several."""
        self._require_connection()
        query = Contract(
            conId=ref.conid or 0,
            symbol=ref.symbol,
            secType=_SECURITY_TYPES[ref.asset_type.value],
            exchange=ref.exchange,
            currency=ref.currency,
        )
        try:
            details = await self._ib.reqContractDetailsAsync(query)
        except RequestError:
            return None
        if len(details) != 1 or details[0].contract is None:
            return None
        found = instrument_of(details[0].contract)
        if found is None:
            return None
        return found.model_copy(update={"min_tick": details[0].minTick or found.min_tick})


def _executed(ref: str, fill: Fill, commission: float) -> Executed:
    execution = fill.execution
    return Executed(
        client_ref=ref,
        exec_id=execution.execId,
        quantity=decimal_of(execution.shares),
        price=decimal_of(execution.price),
        commission=decimal_of(commission),
        at=execution.time,
    )
