"""Wiring of the broker service: settings, the book, the venue, the subscribers and the chores."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal

import structlog

from tradelane.broker.config import BrokerSettings, LiveTradingNotConfirmedError
from tradelane.broker.engine import TradingEngine
from tradelane.broker.handlers import BrokerHandlers
from tradelane.broker.outbox import Outbox
from tradelane.broker.paper_venue import PaperVenue
from tradelane.broker.venue import OrderVenue
from tradelane.contracts import subjects
from tradelane.contracts.envelope import utc_now
from tradelane.contracts.trading import Venue
from tradelane.runtime.service import Service
from tradelane.runtime.streams import BROKER_CONSUMER
from tradelane.store.book.transactions import BookRepository
from tradelane.store.migrate import migrate
from tradelane.store.pool import create_pool
from tradelane.store.strategies import StrategyRepository
from tradelane.trading.paper import PaperCosts

log = structlog.get_logger(__name__)


def paper_venue(settings: BrokerSettings, repository: BookRepository) -> PaperVenue:
    async def mark(conid: int) -> Decimal | None:
        known = await repository.instrument(conid)
        return known[1] if known is not None else None

    costs = PaperCosts(
        slippage_bps=settings.paper_slippage_bps,
        commission_rate=settings.paper_commission_rate,
        commission_minimum=settings.paper_commission_minimum,
    )
    return PaperVenue(costs, settings.paper_cash, mark, utc_now)


def make_venue(settings: BrokerSettings, repository: BookRepository) -> OrderVenue:
    """The configured venue: the paper simulator, or IB through ib_async."""
    if settings.broker_venue is Venue.PAPER:
        return paper_venue(settings, repository)
    from tradelane.broker.ib_venue import IbVenue, IbVenueSettings

    return IbVenue(
        IbVenueSettings(
            host=settings.ib_host,
            port=settings.ib_port,
            client_id=settings.broker_ib_client_id,
            account=settings.ib_account,
            mode=settings.trading_mode,
            timeout=settings.ib_timeout,
            cancel_timeout=settings.broker_cancel_timeout_seconds,
        )
    )


def announce(venue: OrderVenue) -> None:
    """Say loudly which mode is on: live trading gets a warning nobody can miss."""
    if venue.mode == "live":
        log.warning(
            "live_trading_enabled",
            venue=venue.name.value,
            account=venue.account_id,
            message=f"*** LIVE TRADING: orders go to the real IB account {venue.account_id} with real money ***",
        )
    elif venue.name is Venue.IB:
        log.warning(
            "paper_trading_on_ib",
            account=venue.account_id,
            message=f"PAPER TRADING on the IB paper account {venue.account_id}",
        )
    else:
        log.info(
            "paper_trading",
            venue=venue.name.value,
            message="PAPER TRADING: simulated fills against the bars on the bus; no order reaches a broker",
        )


TRADING_ENGINE = "trading_engine"
"""Where the start hook leaves the trading engine in FastStream's context for the subscribers."""


def build(settings: BrokerSettings | None = None) -> Service:
    """The broker service; refuses to build when the settings ask for unconfirmed live trading."""
    settings = settings or BrokerSettings()
    problem = settings.trading_mode_problem()
    if problem is not None:
        raise LiveTradingNotConfirmedError(problem)
    service = Service("broker", settings)

    def current_engine() -> TradingEngine:
        engine: TradingEngine = service.context.get(TRADING_ENGINE)
        return engine

    @service.on_start
    async def open_book() -> None:
        pool = await create_pool(settings.database_url)
        service.resources.push_async_callback(pool.close)
        await migrate(pool)
        repository = BookRepository(pool)
        venue = make_venue(settings, repository)
        outbox = Outbox(repository, service.bus)
        engine = TradingEngine(
            repository,
            venue,
            outbox,
            StrategyRepository(pool),
            entry_type=settings.broker_entry_order_type,
            entry_tif=settings.broker_entry_tif,
            trade_replays=settings.broker_trade_replays,
            guards=settings.guards,
        )
        service.resources.push_async_callback(venue.close)
        await engine.start()
        service.context.set_global(TRADING_ENGINE, engine)
        announce(venue)
        chores: tuple[tuple[float, Callable[[], Awaitable[object]], str], ...] = (
            (settings.broker_snapshot_interval_seconds, engine.take_snapshot, "snapshot"),
            (settings.broker_housekeeping_seconds, engine.housekeeping, "housekeeping"),
            (settings.broker_housekeeping_seconds, outbox.flush, "outbox"),
        )
        for seconds, chore, name in chores:
            service.background.every(seconds, chore, f"broker-{name}")

    handlers = BrokerHandlers(current_engine, service.payloads)
    service.subscriber(BROKER_CONSUMER)(handlers.on_signal_generated)
    # no_reply: the reply subject of a message on a stream subject is the publisher's inbox, where
    # its js.publish awaits the stream's acknowledgement; an empty answer there (this handler's
    # None) that arrived first made the publisher (market-data) fail with a JSONDecodeError
    service.broker.subscriber(subjects.MARKET_DATA_FETCHED, queue=subjects.BROKER_SERVICE_QUEUE, no_reply=True)(
        handlers.on_bars_fetched
    )
    service.broker.subscriber(subjects.BROKER_PLACE_ORDER, queue=subjects.BROKER_SERVICE_QUEUE)(handlers.place_order)
    service.broker.subscriber(subjects.BROKER_CANCEL_ORDER, queue=subjects.BROKER_SERVICE_QUEUE)(handlers.cancel_order)
    return service
