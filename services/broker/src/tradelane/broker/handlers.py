"""The broker's subscribers, kept thin: each turns a failure into a delivery decision or a reply.

Messages of a backtest (``backtest`` set on the envelope) are never acted on: a backtest's signal places no
order here and its bars, which are old, move no mark and fill no paper order (backtests trade on a simulated
venue of their own).

- ``pipeline.signal.generated`` (durable): a venue that is down naks the signal with a delay (it
  is retried; the order is never doubled); Postgres errors are retried by the delivery rules.
- ``pipeline.market_data.fetched`` (core, queue group): prices; one lost update is harmless,
  the next execution's bars cover it, so a failure is logged and dropped.
- Commands from the gateway (request/reply): always answered; a failure is an ``unavailable``
  reply that says what happened, never an exception the requester would only see as a timeout.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import asyncpg
import nats.errors
import structlog

from tradelane.broker.engine import TradingEngine
from tradelane.broker.placement import Redrive
from tradelane.broker.venue import VenueUnavailableError
from tradelane.contracts.events import BarsFetched, SignalGenerated
from tradelane.contracts.trading import CancelOrder, CancelReply, OrderPlaced, PlaceOrder, manual_order_ref
from tradelane.runtime.deadletters import REDRIVE_HEADER, redrive_places_orders
from tradelane.runtime.errors import TransientStepError
from tradelane.runtime.injection import NatsMessage
from tradelane.runtime.payloads import PayloadMissingError, PayloadStore

log = structlog.get_logger(__name__)

VENUE_RETRY_SECONDS = 10.0
_STORAGE_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError)
_PRICE_ERRORS = (*_STORAGE_ERRORS, PayloadMissingError, nats.errors.Error)
"""Bars not applied (the book or the payload store out of reach) are logged: the next execution's bars come soon."""


class BrokerHandlers:
    """Subscribers over the trading engine built at start-up (``engine`` returns it)."""

    def __init__(self, engine: Callable[[], TradingEngine], payloads: PayloadStore) -> None:
        self._engine = engine
        self._payloads = payloads

    async def on_signal_generated(self, msg: SignalGenerated, message: NatsMessage) -> None:
        """Place the order a signal of an auto-trading strategy asks for (a redriven one: if the redrive says so).

        A backtest's signal is acked and ignored: it never reaches the trading engine. Backtests publish their
        signals on subjects of their own, which the broker's consumer does not match, so none should come here;
        the check stays as a second line, since an order placed from one would spend real money (a signals
        service of an older version, or a hand-published message, may still put one on the live subject).
        """
        if msg.backtest is not None:
            log.info(
                "backtest_signal_ignored",
                signal_id=str(msg.message_id),
                backtest_id=str(msg.backtest.backtest_id),
                variant=msg.backtest.variant,
                seq=msg.backtest.seq,
            )
            return
        headers = message.raw_message.headers or {}
        redrive_of = headers.get(REDRIVE_HEADER)
        redrive = None if redrive_of is None else Redrive(redrive_of, redrive_places_orders(headers))
        try:
            await self._engine().on_signal(msg, redrive)
        except VenueUnavailableError as error:
            raise TransientStepError(f"broker venue unavailable: {error}", retry_after=VENUE_RETRY_SECONDS) from error

    async def on_bars_fetched(self, msg: BarsFetched) -> None:
        """Keep marks and let the paper venue fill against the new bars (a replay's or a backtest's bars are old
        news and ignored); the bars are fetched from the payload store only when an order is working.

        Backtests publish their bars on a subject of their own, which the broker neither subscribes to nor may, so
        none should come here; the check stays as a second line (a market-data service of an older version, or a
        hand-published message, may still put one on the live subject), since old prices must not move marks or
        fill paper orders."""
        if msg.replay_of is not None or msg.backtest is not None:
            return
        try:
            await self._engine().on_market(msg.symbol, msg.bars.last_bar, partial(self._payloads.bars, msg.bars))
        except _PRICE_ERRORS as error:
            log.warning("prices_not_applied", symbol=msg.symbol.symbol, error=f"{type(error).__name__}: {error}")

    async def place_order(self, command: PlaceOrder) -> OrderPlaced:
        """A manual order from the gateway."""
        try:
            return await self._engine().place_manual(command)
        except VenueUnavailableError as error:
            return OrderPlaced(
                outcome="unavailable",
                client_ref=manual_order_ref(command.client_order_id),
                reason=f"the order is recorded but the venue is unavailable ({error}); it is sent when the "
                "connection is back: cancel it if you no longer want it",
            )
        except _STORAGE_ERRORS as error:
            return OrderPlaced(
                outcome="unavailable",
                client_ref=manual_order_ref(command.client_order_id),
                reason=f"the book is unavailable ({type(error).__name__}); nothing was placed, try again",
            )

    async def cancel_order(self, command: CancelOrder) -> CancelReply:
        """A cancel from the gateway."""
        try:
            return await self._engine().cancel(command)
        except VenueUnavailableError as error:
            return CancelReply(outcome="unavailable", reason=f"the venue is unavailable ({error}); try again")
        except _STORAGE_ERRORS as error:
            return CancelReply(outcome="unavailable", reason=f"the book is unavailable ({type(error).__name__})")
