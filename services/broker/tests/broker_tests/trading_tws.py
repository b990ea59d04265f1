"""market-data's fake TWS, extended with an order book: it trades over the real TWS API socket protocol.

On top of what :class:`tradelane.ib.testing.FakeTws` answers (handshake, accounts, contract details, bars), it
handles ``placeOrder`` (brackets held until the last order transmits them), ``cancelOrder``,
``reqOpenOrders``, ``reqExecutions``, ``reqPositions`` and account values, and sends what TWS sends:
``openOrder``, ``orderStatus``, ``execDetails``, ``commissionReport``, ``position``, errors. Orders
that are marketable against ``prices`` fill when they arrive; tests fill others with :meth:`fill`.
Bracket children form one OCA group: when one fills, IB cancels the other.

Tests script it: reject the next order with an IB code, refuse cancels, take an order without
answering (as if the broker died before hearing back), seed positions and executions of earlier
sessions, and drop every connection.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import IntEnum

from tradelane.ib.testing import FakeTws, Session, frame


class OrderIn(IntEnum):
    """Order requests a client sends."""

    PLACE_ORDER = 3
    CANCEL_ORDER = 4
    REQ_OPEN_ORDERS = 5
    REQ_ACCOUNT_UPDATES = 6
    REQ_EXECUTIONS = 7
    REQ_ALL_OPEN_ORDERS = 16
    REQ_POSITIONS = 61


class OrderOut(IntEnum):
    """What the fake sends about orders and the account."""

    ORDER_STATUS = 3
    ERROR = 4
    OPEN_ORDER = 5
    ACCOUNT_VALUE = 6
    EXEC_DETAILS = 11
    OPEN_ORDER_END = 53
    EXEC_DETAILS_END = 55
    COMMISSION_REPORT = 59
    POSITION = 61
    POSITION_END = 62


CANCEL_REFUSED = (10148, "OrderId {order_id} that needs to be cancelled cannot be cancelled, state: {state}.")
ORDER_REJECTED = (201, "Order rejected - reason:The account does not have enough buying power")
_OPEN = frozenset({"PreSubmitted", "Submitted"})


@dataclass
class FakeOrder:
    """An order the fake holds, with what the client sent and where it stands."""

    order_id: int
    perm_id: int
    client_id: int
    conid: int
    symbol: str
    sec_type: str
    exchange: str
    currency: str
    action: str
    quantity: float
    order_type: str
    limit: float | None
    aux: float | None
    tif: str
    account: str
    order_ref: str
    transmit: bool
    parent_id: int
    status: str = "Held"
    filled: float = 0.0
    average_price: float = 0.0

    @property
    def open(self) -> bool:
        return self.status in _OPEN


@dataclass(frozen=True)
class FakeExecution:
    exec_id: str
    order_id: int
    perm_id: int
    client_id: int
    conid: int
    symbol: str
    sec_type: str
    exchange: str
    currency: str
    account: str
    side: str
    shares: float
    price: float
    order_ref: str
    commission: float
    time: datetime


@dataclass
class FakePosition:
    conid: int
    symbol: str
    sec_type: str
    exchange: str
    currency: str
    quantity: float
    average_cost: float


@dataclass
class _Book:
    orders: dict[int, FakeOrder] = field(default_factory=dict)
    """By permId: a client that reconnects starts its order ids again (the fake always says 1 is next)."""
    executions: list[FakeExecution] = field(default_factory=list)
    positions: dict[int, FakePosition] = field(default_factory=dict)


class TradingTws(FakeTws):
    """The fake TWS with an order book; ``prices`` decide what is marketable on arrival."""

    def __init__(self, *args: object, prices: dict[int, float] | None = None, cash: float = 100_000, **kwargs: object):
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.prices: dict[int, float] = dict(prices or {})
        self.cash = cash
        self.commission = 1.25
        self.book = _Book()
        self.reject_next_order: tuple[int, str] | None = None
        self.refuse_cancels = False
        self.answer_orders = True
        """False: take and work orders without a word back (as if the client died before hearing from IB)."""
        self._perm_ids = itertools.count(9_000_001)
        self._exec_ids = itertools.count(1)

    async def __aenter__(self) -> TradingTws:
        await self.start()
        return self

    # Scripting ---------------------------------------------------------------------------

    def orders_with_ref(self, order_ref: str) -> list[FakeOrder]:
        return [order for order in self.book.orders.values() if order.order_ref == order_ref]

    def seed_position(self, position: FakePosition) -> None:
        self.book.positions[position.conid] = position

    async def fill(self, order_ref: str, price: float, quantity: float | None = None) -> None:
        """Execute (part of) a working order and tell its client, as TWS does."""
        [order] = [order for order in self.orders_with_ref(order_ref) if order.open]
        for message in self._execute(order, price, quantity if quantity is not None else order.quantity - order.filled):
            await self._tell(order.client_id, message)

    async def cancel_at_ib(self, order_ref: str, code: int = 202, text: str = "Order Canceled - reason:") -> None:
        """IB cancels a working order by itself (and says why)."""
        [order] = [order for order in self.orders_with_ref(order_ref) if order.open]
        order.status = "Cancelled"
        await self._tell(order.client_id, self._error_frame(order.order_id, code, text))
        await self._tell(order.client_id, self._status_frame(order))

    async def _tell(self, client_id: int, message: bytes) -> None:
        for session in list(self._sessions):
            if session.client_id == client_id:
                await self._send(session, message)

    # Requests ----------------------------------------------------------------------------

    async def handle(self, session: Session, fields: list[str]) -> bool:
        message_id = int(fields[0])
        handlers: dict[int, Callable[[int, list[str]], list[bytes]]] = {
            OrderIn.PLACE_ORDER: self._place,
            OrderIn.CANCEL_ORDER: self._cancel,
            OrderIn.REQ_OPEN_ORDERS: self._open_orders,
            OrderIn.REQ_ALL_OPEN_ORDERS: self._open_orders,
            OrderIn.REQ_EXECUTIONS: self._executions,
            OrderIn.REQ_POSITIONS: self._positions,
        }
        handler = handlers.get(message_id)
        if handler is None or session.client_id is None:
            if message_id == OrderIn.REQ_ACCOUNT_UPDATES and fields[2] == "1":
                await self._send(session, self._account_value("TotalCashValue", self.cash, fields[3]))
                await self._send(session, self._account_value("NetLiquidation", self._net_liquidation(), fields[3]))
            return await super().handle(session, fields)
        script = self._scripts.get(message_id)
        if script is not None and script.drops:
            script.drops -= 1
            return False
        for message in handler(session.client_id, fields):
            await self._send(session, message)
        return True

    def _place(self, client_id: int, fields: list[str]) -> list[bytes]:
        """placeOrder: msgId, orderId, the contract's twelve fields, secIdType, secId, then the order's fields."""
        conid, symbol, sec_type, _, _, _, _, exchange, _, currency, _, _ = fields[2:14]
        action, quantity, order_type, limit, aux, tif, _, account, _, _, order_ref, transmit, parent_id = fields[16:29]
        order = FakeOrder(
            order_id=int(fields[1]),
            perm_id=next(self._perm_ids),
            client_id=client_id,
            conid=int(conid or 0),
            symbol=symbol,
            sec_type=sec_type,
            exchange=exchange,
            currency=currency,
            action=action,
            quantity=float(quantity),
            order_type=order_type,
            limit=float(limit) if limit else None,
            aux=float(aux) if aux else None,
            tif=tif,
            account=account or self.accounts[0],
            order_ref=order_ref,
            transmit=transmit == "1",
            parent_id=int(parent_id or 0),
        )
        if self.reject_next_order is not None:
            code, text = self.reject_next_order
            self.reject_next_order = None
            return [self._error_frame(order.order_id, code, text)]
        self.book.orders[order.perm_id] = order
        if not order.transmit:
            return []
        messages = self._transmit(order)
        return messages if self.answer_orders else []

    def _transmit(self, order: FakeOrder) -> list[bytes]:
        """The last order of a bracket transmits its entry and every held sibling."""
        root = self._order(order.client_id, order.parent_id) or order
        group = [root, *(other for other in self._orders_of(root.client_id) if other.parent_id == root.order_id)]
        messages: list[bytes] = []
        for member in group:
            if member.status != "Held":
                continue
            member.status = "PreSubmitted" if member.parent_id else "Submitted"
            messages += [self._open_order_frame(member), self._status_frame(member)]
        price = self.prices.get(root.conid)
        if price is not None and root.status == "Submitted" and _marketable(root, price):
            messages += self._execute(root, _fill_price(root, price), root.quantity - root.filled)
        return messages

    def _execute(self, order: FakeOrder, price: float, quantity: float) -> list[bytes]:
        shares = min(quantity, order.quantity - order.filled)
        order.average_price = (order.average_price * order.filled + price * shares) / (order.filled + shares)
        order.filled += shares
        execution = FakeExecution(
            exec_id=f"0000e0d5.{next(self._exec_ids):08d}.01.01",
            order_id=order.order_id,
            perm_id=order.perm_id,
            client_id=order.client_id,
            conid=order.conid,
            symbol=order.symbol,
            sec_type=order.sec_type,
            exchange=order.exchange,
            currency=order.currency,
            account=order.account,
            side="BOT" if order.action == "BUY" else "SLD",
            shares=shares,
            price=price,
            order_ref=order.order_ref,
            commission=self.commission,
            time=datetime.now(UTC).replace(microsecond=0),
        )
        self.book.executions.append(execution)
        self._move_position(order, shares, price)
        messages = [self._exec_frame(-1, execution, order.filled), self._commission_frame(execution)]
        if order.filled >= order.quantity:
            order.status = "Filled"
        messages.append(self._status_frame(order))
        if order.status == "Filled":
            messages += self._after_fill(order)
        return messages

    def _after_fill(self, order: FakeOrder) -> list[bytes]:
        messages: list[bytes] = []
        for other in self._orders_of(order.client_id):
            if order.parent_id == 0 and other.parent_id == order.order_id and other.status == "PreSubmitted":
                other.status = "Submitted"
                messages.append(self._status_frame(other))
            elif order.parent_id and other.parent_id == order.parent_id and other is not order and other.open:
                other.status = "Cancelled"
                messages.append(self._status_frame(other))
        return messages

    def _move_position(self, order: FakeOrder, shares: float, price: float) -> None:
        signed = shares if order.action == "BUY" else -shares
        self.cash -= signed * price + self.commission
        held = self.book.positions.get(order.conid)
        if held is None:
            held = FakePosition(order.conid, order.symbol, order.sec_type, order.exchange, order.currency, 0.0, 0.0)
            self.book.positions[order.conid] = held
        total = held.quantity + signed
        if held.quantity == 0 or (held.quantity > 0) == (signed > 0):
            held.average_cost = (abs(held.quantity) * held.average_cost + shares * price) / abs(total)
        elif total == 0:
            held.average_cost = 0.0
        held.quantity = total

    def _cancel(self, client_id: int, fields: list[str]) -> list[bytes]:
        order = self._order(client_id, int(fields[2]))
        if order is None:
            return [
                self._error_frame(
                    int(fields[2]), 10147, f"OrderId {fields[2]} that needs to be cancelled is not found."
                )
            ]
        if self.refuse_cancels or not order.open:
            code, text = CANCEL_REFUSED
            return [self._error_frame(order.order_id, code, text.format(order_id=order.order_id, state=order.status))]
        order.status = "Cancelled"
        cancelled = [order, *(child for child in self._orders_of(client_id) if child.parent_id == order.order_id)]
        messages = []
        for member in cancelled:
            if member.open or member is order:
                member.status = "Cancelled"
                messages.append(self._status_frame(member))
        return messages

    def _orders_of(self, client_id: int) -> list[FakeOrder]:
        return [order for order in self.book.orders.values() if order.client_id == client_id]

    def _order(self, client_id: int, order_id: int) -> FakeOrder | None:
        """The client's latest order with this id (ids restart when a client reconnects)."""
        found = [order for order in self._orders_of(client_id) if order.order_id == order_id]
        return found[-1] if found else None

    def _open_orders(self, client_id: int, fields: list[str]) -> list[bytes]:
        all_clients = int(fields[0]) == OrderIn.REQ_ALL_OPEN_ORDERS
        messages: list[bytes] = []
        for order in self.book.orders.values():
            if order.open and (all_clients or order.client_id == client_id):
                messages += [self._open_order_frame(order), self._status_frame(order)]
        return [*messages, frame([OrderOut.OPEN_ORDER_END, 1])]

    def _executions(self, client_id: int, fields: list[str]) -> list[bytes]:
        """reqExecutions: msgId, version, reqId, then the filter (the fake answers every execution of the client)."""
        req_id = int(fields[2])
        messages: list[bytes] = []
        for execution in self.book.executions:
            if execution.client_id == client_id:
                messages += [self._exec_frame(req_id, execution, execution.shares), self._commission_frame(execution)]
        return [*messages, frame([OrderOut.EXEC_DETAILS_END, 1, req_id])]

    def _positions(self, client_id: int, fields: list[str]) -> list[bytes]:
        del client_id, fields
        messages = [self._position_frame(held) for held in self.book.positions.values() if held.quantity != 0]
        return [*messages, frame([OrderOut.POSITION_END, 1])]

    def _position_frame(self, held: FakePosition) -> bytes:
        return frame([
            OrderOut.POSITION, 3, self.accounts[0], held.conid, held.symbol, held.sec_type, "", 0, "", "",
            held.exchange, held.currency, held.symbol, held.symbol, held.quantity, held.average_cost,
        ])  # fmt: skip

    def _net_liquidation(self) -> float:
        return self.cash + sum(
            held.quantity * self.prices.get(held.conid, held.average_cost) for held in self.book.positions.values()
        )

    # Frames ------------------------------------------------------------------------------

    def _error_frame(self, req_id: int, code: int, text: str) -> bytes:
        return frame([OrderOut.ERROR, 2, req_id, code, text, ""])

    def _account_value(self, key: str, value: float, account: str) -> bytes:
        return frame([OrderOut.ACCOUNT_VALUE, 2, key, f"{value:.2f}", "USD", account or self.accounts[0]])

    def _status_frame(self, order: FakeOrder) -> bytes:
        return frame([
            OrderOut.ORDER_STATUS, order.order_id, order.status, order.filled, order.quantity - order.filled,
            order.average_price, order.perm_id, order.parent_id, order.average_price, order.client_id, "", 0,
        ])  # fmt: skip

    def _exec_frame(self, req_id: int, execution: FakeExecution, cumulative: float) -> bytes:
        return frame([
            OrderOut.EXEC_DETAILS, req_id, execution.order_id, execution.conid, execution.symbol, execution.sec_type,
            "", 0, "", "", execution.exchange, execution.currency, execution.symbol, execution.symbol,
            execution.exec_id, execution.time.strftime("%Y%m%d %H:%M:%S UTC"), execution.account, execution.exchange,
            execution.side, execution.shares, execution.price, execution.perm_id, execution.client_id, 0, cumulative,
            execution.price, execution.order_ref, "", "", "", 1, 0,
        ])  # fmt: skip

    def _commission_frame(self, execution: FakeExecution) -> bytes:
        return frame([OrderOut.COMMISSION_REPORT, 1, execution.exec_id, execution.commission, "USD", "", "", ""])

    def _open_order_frame(self, order: FakeOrder) -> bytes:
        """openOrder for server version 178, field by field as ib_async's decoder reads it."""
        limit = "" if order.limit is None else order.limit
        aux = "" if order.aux is None else order.aux
        fields: list[object] = [
            OrderOut.OPEN_ORDER, order.order_id,
            order.conid, order.symbol, order.sec_type, "", 0, "", "", order.exchange, order.currency, order.symbol,
            order.symbol,
            order.action, order.quantity, order.order_type, limit, aux, order.tif, "", order.account, "", 0,
            order.order_ref, order.client_id, order.perm_id, 0, 0, 0, "", "", "", "", "",
        ]  # fmt: skip
        fields += ["", "", "", "", "", 0, "", -1, "", "", "", "", "", "", 0, 0, 0, 0, "", 0, 0, 0, 0]
        fields += [order.parent_id, 0, "", "", "", ""]  # parentId, triggerMethod, volatility, volatilityType, ...
        fields += [0, "", "", "", "", "", ""]  # continuousUpdate ... comboLegsDescrip
        fields += [0, 0, 0]  # combo legs, order combo legs, smart combo routing params
        fields += ["", "", ""]  # scale init level size, subs level size, price increment
        fields += [""]  # hedge type
        fields += [0, "", "", 0, 0]  # optOutSmartRouting, clearing account, clearing intent, notHeld, no dnc
        fields += [""]  # algo strategy
        fields += [0, 0, order.status, "", "", "", "", "", "", "", "", "", "", "", "", "", "", 0, 0]
        fields += [0]  # conditions
        fields += ["", "", "", "", "", "", "", 0, "", "", "", "", 0, 0, "", 0]
        fields += ["", 0, 0]  # duration, postToAts, autoCancelParent
        fields += ["", "", "", "", ""]  # minTradeQty ... midOffsetAtHalf
        return frame(fields)


def _marketable(order: FakeOrder, price: float) -> bool:
    buy = order.action == "BUY"
    if order.order_type == "MKT":
        return True
    if order.order_type == "LMT" and order.limit is not None:
        return price <= order.limit if buy else price >= order.limit
    if order.aux is not None:
        return price >= order.aux if buy else price <= order.aux
    return False


def _fill_price(order: FakeOrder, price: float) -> float:
    if order.order_type == "LMT" and order.limit is not None:
        return min(price, order.limit) if order.action == "BUY" else max(price, order.limit)
    return price
