"""Where orders go, and what comes back: the venue protocol and the events a venue reports.

A venue (the paper simulator, or Interactive Brokers) never writes the book. It reports what
happened to orders as events, and the broker applies each one to the book in its own
transaction: status comes from these events, never from polling. Applying an event twice
changes nothing (fills are unique by execution id; statuses move only as the transition table in
:mod:`tradelane.broker.order_states` allows).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Literal, Protocol

from tradelane.contracts.book import OrderRecord
from tradelane.contracts.market import Bar, ResolvedSymbol
from tradelane.contracts.strategy import SymbolRef
from tradelane.contracts.trading import TradingMode, Venue

if TYPE_CHECKING:
    from tradelane.broker.reconcile import Holdings


@dataclass(frozen=True)
class Accepted:
    """The venue holds the order."""

    client_ref: str
    broker_order_id: str | None
    at: datetime


@dataclass(frozen=True)
class Executed:
    """(Part of) the order executed."""

    client_ref: str
    exec_id: str
    quantity: Decimal
    price: Decimal
    commission: Decimal
    at: datetime


@dataclass(frozen=True)
class Cancelled:
    """The order stopped working without (fully) executing: cancelled, expired, or its OCA sibling filled."""

    client_ref: str
    reason: str
    at: datetime


@dataclass(frozen=True)
class Rejected:
    """The venue refused the order (IB's code and text)."""

    client_ref: str
    code: int | None
    reason: str
    at: datetime


@dataclass(frozen=True)
class ConnectionLost:
    reason: str
    at: datetime


@dataclass(frozen=True)
class ConnectionRestored:
    at: datetime


@dataclass(frozen=True)
class Unsent:
    """Reconciliation: an order the book marks as sent is unknown to the venue, so it must be sent again."""

    client_ref: str
    detail: str


@dataclass(frozen=True)
class PositionCorrected:
    """Reconciliation: the venue holds a different position than the book; the venue's is taken."""

    instrument: ResolvedSymbol
    quantity: Decimal
    average_cost: Decimal
    detail: str


@dataclass(frozen=True)
class CashCorrected:
    """Reconciliation: the venue reports different cash than the book; the venue's is taken."""

    cash: Decimal
    detail: str


@dataclass(frozen=True)
class Noticed:
    """Reconciliation: a difference that needs no correction to the book, recorded for the audit."""

    kind: str
    detail: str
    client_ref: str | None = None


VenueEvent = (
    Accepted
    | Executed
    | Cancelled
    | Rejected
    | ConnectionLost
    | ConnectionRestored
    | Unsent
    | PositionCorrected
    | CashCorrected
    | Noticed
)
EventSink = Callable[[VenueEvent], Awaitable[None]]


class VenueUnavailableError(ConnectionError):
    """The venue cannot take orders right now (disconnected); nothing was sent."""


@dataclass(frozen=True)
class CancelResult:
    """What the venue said to a cancel: done, asked but unconfirmed, or refused (with its reason)."""

    outcome: Literal["cancelled", "pending_cancel", "refused"]
    reason: str = ""


class OrderVenue(Protocol):
    """A place that takes orders and reports what happens to them."""

    name: Venue
    mode: TradingMode
    handles_brackets: bool
    """True when the venue itself cancels a bracket's children and OCA siblings (IB); False: the broker does."""

    @property
    def account_id(self) -> str: ...

    def bind(self, sink: EventSink) -> None:
        """Where to report events (the broker's ``apply``)."""
        ...

    async def start(self) -> None:
        """Connect; raise with a message that says what to fix when that is impossible."""
        ...

    async def close(self) -> None: ...

    async def initial_cash(self) -> Decimal:
        """Cash of a new book: the configured paper cash, or the IB account's."""
        ...

    async def place(self, orders: Sequence[OrderRecord]) -> None:
        """Send orders (a bracket's entry first); raises VenueUnavailableError when nothing could be sent."""
        ...

    async def cancel(self, order: OrderRecord) -> CancelResult: ...

    async def resume(self, working: Sequence[OrderRecord]) -> None:
        """After a start or reconnect: reconcile the book's working orders with the venue and report differences.

        Returns once every event it reported has been applied.
        """
        ...

    async def holdings(self) -> Holdings | None:
        """The positions and cash the venue holds (None: the venue keeps no account of its own; the book is it)."""
        ...

    async def on_prices(self, instrument: ResolvedSymbol, bars: Sequence[Bar], working: Sequence[OrderRecord]) -> bool:
        """New bars for an instrument: True when an order executed against them (the paper simulator; IB: never)."""
        ...

    async def housekeeping(self, working: Sequence[OrderRecord], now: datetime) -> None:
        """Periodic chores (the paper simulator expires DAY orders)."""
        ...

    async def resolve(self, ref: SymbolRef) -> ResolvedSymbol | None:
        """Look up an instrument the book has never seen (IB: contract details); None when unknown."""
        ...
