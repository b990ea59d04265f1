"""The broker's guardrails against the real book (Postgres) and bus (NATS).

Reduce-only nets the working orders, the stored strategy is read again at order time, replays
and redrives place nothing unless asked, a signal never prices the market, and every skip is
published (and so recorded in the lineage) with its reason.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import uuid4

import asyncpg
from nats.aio.client import Client as NatsClient

from tests.support.waiting import eventually
from tradelane.broker.placement import Redrive
from tradelane.contracts import subjects
from tradelane.contracts.envelope import utc_now
from tradelane.contracts.events import Action, SignalGenerated
from tradelane.contracts.strategy import AssetType, SymbolRef
from tradelane.contracts.trading import ManualOrder, OrderStatus, PlaceOrder, TradingState
from tradelane.runtime.bus import event_headers
from tradelane.runtime.deadletters import REDRIVE_HEADER
from tradelane.runtime.service import Service
from tradelane.store.book import controls
from tradelane.store.book.transactions import BookRepository
from tradelane.store.strategies import StrategyRepository

from .support import BTC, NOW, PaperTrading, signal_generated, stored, trading_events

BTC_REF = SymbolRef(symbol="BTC", exchange="PAXOS", asset_type=AssetType.CRYPTO, conid=BTC.conid)


def btc(client_order_id: str, side: str, quantity: str, **fields: str) -> PlaceOrder:
    order = ManualOrder.model_validate({"instrument": BTC_REF, "side": side, "quantity": quantity, **fields})
    return PlaceOrder(order=order, client_order_id=client_order_id)


async def short_031_btc(paper: PaperTrading) -> None:
    """A short of 0.31 BTC with the market at 60,000."""
    await paper.repository.upsert_instrument(BTC, Decimal(60_000), NOW)
    opened = await paper.engine.place_manual(btc("open-short", "SELL", "0.31"))
    assert opened.outcome == "submitted", opened
    [position] = await paper.repository.positions()
    assert position.quantity == Decimal("-0.31")


async def ten_resting_buys(paper: PaperTrading) -> list[str | None]:
    """Ten BUY LMT 0.31 at 59,000 (below the market, so they rest); the rule that refused each, None if none."""
    rules = []
    for n in range(10):
        reply = await paper.engine.place_manual(
            btc(f"buy-{n}", "BUY", "0.31", order_type="LMT", limit_price="59000", tif="GTC")
        )
        rules.append(reply.rule)
    return rules


async def test_ten_resting_buys_against_a_short_are_not_all_reducing(paper: PaperTrading) -> None:
    """The first buy reduces the short, the second opens 0.31 long, the third would make the long too large."""
    await short_031_btc(paper)
    rules = await ten_resting_buys(paper)
    assert rules == [None, None] + ["max_position_notional"] * 8
    refused = await paper.repository.order_by_ref("tl-m-buy-2")
    assert refused is not None
    assert refused.reason == (
        "the position would be 0.62 with the working orders on this side x 60000 = 37,200.00, above the limit 25,000.00"
    )


async def test_while_reducing_only_the_buy_that_truly_reduces_goes_through(
    paper: PaperTrading, pool: asyncpg.Pool[Any]
) -> None:
    await short_031_btc(paper)
    await controls.set_trading_state(pool, TradingState.REDUCING, "wind down", "test")
    assert await ten_resting_buys(paper) == [None] + ["trading_reducing"] * 9


async def skipped(nats_client: NatsClient) -> list[dict[str, Any]]:
    """The SignalSkipped events in the TRADING stream, oldest first."""
    info = await nats_client.jetstream().stream_info(subjects.TRADING_STREAM)
    if not info.state.messages:
        return []
    return [body for subject, body in await trading_events(nats_client) if subject == subjects.SIGNAL_SKIPPED]


async def store_as(strategies: StrategyRepository, msg: SignalGenerated, **changes: object) -> None:
    """Store the signal's strategy as it is now, with ``changes`` made since the execution started."""
    definition = msg.strategy.model_copy(update={"name": f"s-{msg.strategy_id.hex[:8]}", **changes})
    await strategies.create(definition, msg.strategy_id)


async def test_a_strategy_with_auto_trade_off_now_places_nothing_whatever_the_message_says(
    paper: PaperTrading, nats_client: NatsClient
) -> None:
    msg = signal_generated(auto_trade=True)
    await store_as(paper.strategies, msg, auto_trade=False)

    assert await paper.on_signal(msg) == []

    assert await paper.repository.orders() == []
    [skip] = await skipped(nats_client)
    assert (skip["rule"], skip["signal_id"], skip["causation_id"]) == (
        "auto_trade_off",
        str(msg.message_id),
        str(msg.message_id),
    )
    assert skip["execution_id"] == str(msg.execution_id)
    assert "has auto_trade off now" in skip["reason"]


async def test_a_paused_strategy_places_nothing(paper: PaperTrading, nats_client: NatsClient) -> None:
    msg = signal_generated()
    await store_as(paper.strategies, msg, active=False)
    assert await paper.on_signal(msg) == []
    assert [skip["rule"] for skip in await skipped(nats_client)] == ["strategy_inactive"]


async def test_a_deleted_strategy_places_nothing(paper: PaperTrading, nats_client: NatsClient) -> None:
    msg = signal_generated()
    await paper.on_signal(signal_generated())  # another strategy trades, so the book works
    await paper.repository.upsert_instrument(BTC, Decimal(60_000), NOW)

    assert await paper.engine.on_signal(msg) == []  # its strategy was never stored (or was deleted)

    [skip] = await skipped(nats_client)
    assert (skip["rule"], skip["reason"]) == ("strategy_deleted", f"strategy {msg.strategy_id} no longer exists")


async def test_a_strategy_that_now_trades_another_symbol_places_nothing(
    paper: PaperTrading, nats_client: NatsClient
) -> None:
    msg = signal_generated()
    await store_as(paper.strategies, msg, symbol=SymbolRef(symbol="ETH", asset_type=AssetType.CRYPTO))
    assert await paper.on_signal(msg) == []
    assert [skip["rule"] for skip in await skipped(nats_client)] == ["strategy_symbol_changed"]


async def test_the_risk_per_trade_is_the_stored_strategys(paper: PaperTrading) -> None:
    """The message says 1 % (0.3333 BTC over a 3,000 stop); the strategy now says 0.5 %: 0.1666."""
    msg = signal_generated(entry="60000", stop="57000", targets=("66000",), risk_per_trade="0.01")
    await store_as(
        paper.strategies, msg, risk=msg.strategy.risk.model_copy(update={"risk_per_trade": Decimal("0.005")})
    )
    [entry, *_] = await paper.on_signal(msg)
    assert entry.ticket.quantity == Decimal("0.1666")


async def test_a_hold_or_a_strategy_without_auto_trade_in_the_message_is_not_reported(
    paper: PaperTrading, nats_client: NatsClient
) -> None:
    """Nothing was asked of the broker, so nothing is skipped."""
    assert await paper.on_signal(signal_generated(action=Action.HOLD)) == []
    assert await paper.on_signal(signal_generated(auto_trade=False)) == []
    assert await skipped(nats_client) == []


async def test_a_replay_places_nothing_unless_it_asked(paper: PaperTrading, nats_client: NatsClient) -> None:
    replayed = signal_generated(replay_of=uuid4())
    assert await paper.on_signal(replayed) == []
    [skip] = await skipped(nats_client)
    assert skip["rule"] == "replay"
    assert skip["replay_of"] == str(replayed.replay_of)

    asked = signal_generated(replay_of=uuid4()).model_copy(update={"replay_places_orders": True})
    group = await paper.on_signal(asked)
    assert group[0].status is OrderStatus.FILLED


async def test_a_redriven_signal_places_nothing_unless_the_redrive_asked(
    paper: PaperTrading, nats_client: NatsClient
) -> None:
    msg = await stored(signal_generated(), paper.repository, paper.strategies)
    assert await paper.engine.on_signal(msg, Redrive("7")) == []
    [skip] = await skipped(nats_client)
    assert (skip["rule"], skip["reason"]) == (
        "redrive",
        "a redriven signal (dead letter 7) places no orders unless the redrive asks for it (place_orders: true)",
    )

    group = await paper.engine.on_signal(msg, Redrive("7", places_orders=True))
    assert group[0].status is OrderStatus.FILLED


async def test_a_signal_never_sets_the_market_price(paper: PaperTrading, repository: BookRepository) -> None:
    """Without bars the broker has no mark, and the signal's entry is not taken for one: the order is refused."""
    msg = signal_generated(entry="1.00", stop="0.50", targets=("2.00",))
    await store_as(paper.strategies, msg)

    [order] = await paper.engine.on_signal(msg)

    assert (order.status, order.reject_rule) == (OrderStatus.REJECTED, "no_market_price")
    known = await repository.instrument(BTC.conid)
    assert known is not None
    assert known[1] is None


async def test_the_broker_service_skips_a_signal_redriven_from_the_dead_letter_stream(
    broker_service: Service,
    nats_client: NatsClient,
    repository: BookRepository,
    strategies: StrategyRepository,
) -> None:
    """The real subscriber reads the redrive header: the signal places nothing and the skip is published."""
    msg = await stored(signal_generated(at=utc_now()), repository, strategies)
    headers = {**event_headers(msg), REDRIVE_HEADER: "12"}
    await nats_client.jetstream().publish(
        subjects.SIGNAL_GENERATED, msg.model_dump_json().encode(), headers=headers, stream=subjects.PIPELINE_STREAM
    )

    found = await eventually(lambda: skipped(nats_client), "a SignalSkipped to be published", timeout=10)
    assert [skip["rule"] for skip in found] == ["redrive"]
    assert await repository.orders() == []


async def test_a_redelivered_signal_decided_before_the_strategy_changed_is_not_skipped(
    paper: PaperTrading, nats_client: NatsClient
) -> None:
    """Its orders were placed while the strategy traded; the redelivery finds them and reports no skip."""
    msg = signal_generated()
    [entry, *_] = await paper.on_signal(msg)
    stored_strategy = await paper.strategies.get(msg.strategy_id)
    assert stored_strategy is not None
    paused = stored_strategy.definition.model_copy(update={"active": False})
    await paper.strategies.update(msg.strategy_id, paused)

    again = await paper.engine.on_signal(msg)

    assert again[0].client_ref == entry.client_ref
    assert await skipped(nats_client) == []


async def test_a_brackets_exits_claim_the_position_once(paper: PaperTrading, pool: asyncpg.Pool[Any]) -> None:
    """A filled bracket's take-profit and stop-loss (one OCA group) both would sell the 0.4166 held, but only one can.

    So a manual SELL of 0.4166 reduces nothing (the exits already will): it is refused while REDUCING. Counted
    once, the exits leave the position at 0 and the SELL opens a 0.4166 short (24,996), which ACTIVE allows;
    counted twice it would look like 0.8332 short (49,992), above the 25,000 limit.
    """
    [entry, *_] = await paper.on_signal(signal_generated())
    assert entry.status is OrderStatus.FILLED
    await controls.set_trading_state(pool, TradingState.REDUCING, "wind down", "test")
    reducing = await paper.engine.place_manual(btc("close-while-reducing", "SELL", "0.4166"))
    assert reducing.rule == "trading_reducing"

    await controls.set_trading_state(pool, TradingState.ACTIVE, "back", "test")
    active = await paper.engine.place_manual(btc("close-while-active", "SELL", "0.4166"))
    assert active.outcome == "submitted", active
