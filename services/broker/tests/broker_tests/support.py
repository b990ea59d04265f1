"""What the broker's tests share: a settable clock, message builders, a started paper broker, the published events."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

from faststream.nats import NatsBroker
from nats.aio.client import Client as NatsClient

from tradelane.broker.engine import TradingEngine
from tradelane.broker.outbox import Outbox
from tradelane.broker.paper_venue import PaperVenue
from tradelane.contracts import subjects
from tradelane.contracts.book import OrderRecord
from tradelane.contracts.events import Action, Analysis, BarsFetched, Signal, SignalGenerated
from tradelane.contracts.market import Bar, ResolvedSymbol
from tradelane.contracts.strategy import AssetType, BarSize, RiskLimits, StrategyDefinition, SymbolRef
from tradelane.runtime.bus import EventBus
from tradelane.runtime.payloads import PayloadStore
from tradelane.store.book.transactions import BookRepository
from tradelane.store.strategies import StrategyRepository
from tradelane.trading.paper import PaperCosts

BTC = ResolvedSymbol(
    conid=910_012, symbol="BTC", exchange="PAXOS", currency="USD", asset_type=AssetType.CRYPTO, min_tick=0.01
)
AAPL = ResolvedSymbol(
    conid=910_001, symbol="AAPL", exchange="NASDAQ", currency="USD", asset_type=AssetType.STOCK, min_tick=0.01
)
NOW = datetime(2025, 3, 4, 15, 0, tzinfo=UTC)
"""A Tuesday, 10:00 in New York: every calendar the tests use is open."""
NO_COSTS = PaperCosts(slippage_bps=Decimal(0), commission_rate=Decimal(0), commission_minimum=Decimal(0))


class Clock:
    """A clock tests move by hand."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def strategy(*, auto_trade: bool = True, risk_per_trade: str = "0.01", symbol: str = "BTC") -> StrategyDefinition:
    return StrategyDefinition(
        name=f"test-{symbol}",
        symbol=SymbolRef(symbol=symbol, exchange="PAXOS", currency="USD", asset_type=AssetType.CRYPTO),
        bar_size=BarSize.MIN_1,
        duration="1 D",
        risk=RiskLimits(risk_per_trade=Decimal(risk_per_trade)),
        auto_trade=auto_trade,
    )


def signal_generated(
    *,
    action: Action = Action.BUY,
    entry: str = "60000",
    stop: str = "59700",
    targets: tuple[str, ...] = ("60600",),
    instrument: ResolvedSymbol = BTC,
    strategy_id: UUID | None = None,
    auto_trade: bool = True,
    replay_of: UUID | None = None,
    at: datetime = NOW,
    risk_per_trade: str = "0.01",
    **signal_fields: Any,
) -> SignalGenerated:
    hold = action is Action.HOLD
    signal = Signal(
        action=action,
        confidence=70,
        symbol=instrument,
        entry=None if hold else Decimal(entry),
        stop=None if hold else Decimal(stop),
        targets=() if hold else tuple(Decimal(target) for target in targets),
        expires_at=at + timedelta(hours=24),
        model="offline-rules-v1",
        **signal_fields,
    )
    analysis = Analysis(
        bias="bullish" if action is Action.BUY else "bearish", trend="uptrend", confidence=70, model="t"
    )
    return SignalGenerated(
        execution_id=uuid4(),
        strategy_id=strategy_id or uuid4(),
        occurred_at=at,
        replay_of=replay_of,
        strategy=strategy(auto_trade=auto_trade, risk_per_trade=risk_per_trade, symbol=instrument.symbol),
        signal=signal,
        analysis=analysis,
    )


def bar(start: datetime, open_: float, high: float, low: float, close: float) -> Bar:
    return Bar(time=start, open=open_, high=high, low=low, close=close, volume=10)


async def bars_fetched(payloads: PayloadStore, bars: tuple[Bar, ...], instrument: ResolvedSymbol = BTC) -> BarsFetched:
    """Bars as market-data publishes them: stored in the payload store, carried by reference."""
    return BarsFetched(
        execution_id=uuid4(),
        strategy_id=uuid4(),
        strategy=strategy(symbol=instrument.symbol),
        symbol=instrument,
        bars=await payloads.put_bars(instrument.conid, BarSize.MIN_1, bars),
        provider="simulated",
    )


async def stored(msg: SignalGenerated, book: BookRepository, strategies: StrategyRepository) -> SignalGenerated:
    """The signal, with what the broker finds in production when one arrives: its strategy stored (as the gateway
    stores it, under the signal's strategy id) and its instrument priced (at the signal's entry, as the execution's
    bars would have priced it, unless a test priced it already)."""
    if await strategies.get(msg.strategy_id) is None:
        name = f"{msg.strategy.name}-{msg.strategy_id.hex[:12]}"
        await strategies.create(msg.strategy.model_copy(update={"name": name}), msg.strategy_id)
    entry = msg.signal.entry
    known = await book.instrument(msg.signal.symbol.conid)
    if entry is not None and (known is None or known[1] is None):
        await book.upsert_instrument(msg.signal.symbol, entry, msg.occurred_at)
    return msg


@dataclass
class PaperTrading:
    """A started paper trading engine and what tests look at."""

    engine: TradingEngine
    repository: BookRepository
    clock: Clock
    outbox: Outbox
    strategies: StrategyRepository

    async def on_signal(self, msg: SignalGenerated) -> list[OrderRecord]:
        """The engine's ``on_signal`` for a signal as it arrives in production (see :func:`stored`)."""
        return await self.engine.on_signal(await stored(msg, self.repository, self.strategies))


async def start_paper_broker(
    repository: BookRepository,
    nats_broker: NatsBroker,
    clock: Clock,
    strategies: StrategyRepository,
    *,
    costs: PaperCosts = NO_COSTS,
    cash: Decimal = Decimal(100_000),
    entry_type: str = "LMT",
    trade_replays: bool = False,
) -> PaperTrading:
    async def mark(conid: int) -> Decimal | None:
        known = await repository.instrument(conid)
        return known[1] if known is not None else None

    outbox = Outbox(repository, EventBus(nats_broker))
    engine = TradingEngine(
        repository,
        PaperVenue(costs, cash, mark, clock),
        outbox,
        strategies,
        entry_type="MKT" if entry_type == "MKT" else "LMT",
        trade_replays=trade_replays,
        clock=clock,
    )
    await engine.start()
    return PaperTrading(engine, repository, clock, outbox, strategies)


async def trading_events(client: NatsClient) -> list[tuple[str, dict[str, Any]]]:
    """Every message in the TRADING stream, oldest first, as (subject, body)."""
    js = client.jetstream()
    info = await js.stream_info(subjects.TRADING_STREAM)
    events = []
    for sequence in range(info.state.first_seq, info.state.last_seq + 1):
        message = await js.get_msg(subjects.TRADING_STREAM, sequence)
        assert message.subject is not None and message.data is not None
        events.append((message.subject, json.loads(message.data)))
    return events
