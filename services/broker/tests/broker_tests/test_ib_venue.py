"""The IB venue with the real ib_async client against the fake TWS: orders, fills, cancels, reconciliation."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from uuid import uuid4

import pytest
from faststream.nats import NatsBroker

from tests.support.waiting import eventually
from tradelane.broker.engine import TradingEngine
from tradelane.broker.ib_venue import IbAccountRefusedError, IbVenue, IbVenueSettings
from tradelane.broker.outbox import Outbox
from tradelane.broker.venue import VenueUnavailableError
from tradelane.contracts.envelope import utc_now
from tradelane.contracts.trading import (
    CancelOrder,
    ManualOrder,
    OrderStatus,
    PlaceOrder,
    TimeInForce,
    TradingState,
)
from tradelane.ib.testing import FakeContract
from tradelane.runtime.bus import EventBus
from tradelane.store.book.transactions import BookRepository
from tradelane.store.strategies import StrategyRepository
from tradelane.trading.orders import plan_for_signal

from .support import AAPL, BTC, Clock, signal_generated, stored
from .trading_tws import ORDER_REJECTED, FakePosition, OrderIn, TradingTws

CONTRACTS = (
    FakeContract(conid=BTC.conid, symbol="BTC", sec_type="CRYPTO", exchange="PAXOS", primary_exchange="PAXOS"),
    FakeContract(conid=AAPL.conid, symbol="AAPL", primary_exchange="NASDAQ"),
)


@pytest.fixture
async def tws() -> AsyncIterator[TradingTws]:
    async with TradingTws(CONTRACTS, prices={BTC.conid: 60_000.0, AAPL.conid: 190.0}) as server:
        yield server


async def start_ib_engine(
    tws: TradingTws,
    repository: BookRepository,
    nats_broker: NatsBroker,
    strategies: StrategyRepository,
    **settings: object,
) -> TradingEngine:
    venue = IbVenue(
        IbVenueSettings(
            host="127.0.0.1", port=tws.port, client_id=12, account=None, mode="paper", timeout=5, cancel_timeout=2,
            reconnect_initial=0.2, **settings,  # type: ignore[arg-type]
        )
    )  # fmt: skip
    engine = TradingEngine(
        repository, venue, Outbox(repository, EventBus(nats_broker)), strategies, clock=Clock(utc_now())
    )
    await engine.start()
    return engine


async def test_a_signal_places_a_bracket_at_ib_that_its_last_order_transmits(
    tws: TradingTws, repository: BookRepository, nats_broker: NatsBroker, strategies: StrategyRepository
) -> None:
    engine = await start_ib_engine(tws, repository, nats_broker, strategies)
    signal = signal_generated(at=utc_now())
    group = await engine.on_signal(await stored(signal, repository, strategies))
    ref = group[0].client_ref

    async def settled() -> bool:
        orders = await repository.group(ref)
        return [order.status for order in orders] == [OrderStatus.FILLED, OrderStatus.ACCEPTED, OrderStatus.ACCEPTED]

    await eventually(settled, "the entry to fill and both exits to be accepted")
    placed = [request.fields for request in tws.requests_of(OrderIn.PLACE_ORDER)]
    assert [fields[26] for fields in placed] == [ref, f"{ref}-tp", f"{ref}-sl"]
    assert [fields[27] for fields in placed] == ["0", "0", "1"]
    assert {fields[28] for fields in placed[1:]} == {placed[0][1]}
    [fill] = await repository.fills(ref)
    assert fill.commission == Decimal("1.25")
    await engine.venue.close()


def btc_order(client_order_id: str, **fields: object) -> PlaceOrder:
    order = ManualOrder.model_validate(
        {"instrument": {"symbol": "BTC", "conid": BTC.conid, "asset_type": "CRYPTO"}, "side": "BUY", "quantity": "0.1"}
        | fields
    )
    return PlaceOrder(order=order, client_order_id=client_order_id)


@pytest.fixture
async def ib_engine(
    tws: TradingTws, repository: BookRepository, nats_broker: NatsBroker, strategies: StrategyRepository
) -> AsyncIterator[TradingEngine]:
    await repository.upsert_instrument(BTC, Decimal(60_000), utc_now())
    engine = await start_ib_engine(tws, repository, nats_broker, strategies)
    yield engine
    await engine.venue.close()


async def status_of(repository: BookRepository, client_ref: str) -> OrderStatus | None:
    order = await repository.order_by_ref(client_ref)
    return order.status if order is not None else None


async def test_an_exit_filled_at_ib_closes_the_position_and_ib_cancels_the_other_exit(
    tws: TradingTws, ib_engine: TradingEngine, repository: BookRepository, strategies: StrategyRepository
) -> None:
    signal = await stored(signal_generated(at=utc_now()), repository, strategies)
    ref = (await ib_engine.on_signal(signal))[0].client_ref
    await reaches(repository, f"{ref}-tp", OrderStatus.ACCEPTED)

    await tws.fill(f"{ref}-tp", 60_600.0)

    await reaches(repository, f"{ref}-sl", OrderStatus.CANCELLED)
    assert await status_of(repository, f"{ref}-tp") is OrderStatus.FILLED
    [position] = await repository.positions()
    assert position.quantity == 0
    assert position.realized_pnl == Decimal("0.4166") * 600 - Decimal("2.50")


async def test_a_partial_fill_is_recorded_as_such(
    tws: TradingTws, ib_engine: TradingEngine, repository: BookRepository
) -> None:
    reply = await ib_engine.place_manual(btc_order("partial", order_type="LMT", limit_price="59000", tif="GTC"))
    await reaches(repository, reply.client_ref, OrderStatus.ACCEPTED)

    await tws.fill(reply.client_ref, 59_000.0, quantity=0.04)

    await reaches(repository, reply.client_ref, OrderStatus.PARTIALLY_FILLED)
    order = await repository.order_by_ref(reply.client_ref)
    assert order is not None
    assert (order.filled_quantity, order.remaining) == (Decimal("0.04"), Decimal("0.06"))


async def test_an_order_ib_rejects_is_recorded_with_ibs_code_and_text(
    tws: TradingTws, ib_engine: TradingEngine, repository: BookRepository
) -> None:
    tws.reject_next_order = ORDER_REJECTED
    reply = await ib_engine.place_manual(btc_order("rejected"))

    await reaches(repository, reply.client_ref, OrderStatus.REJECTED)
    order = await repository.order_by_ref(reply.client_ref)
    assert order is not None
    assert order.reject_code == 201
    assert order.reason is not None
    assert "enough buying power" in order.reason


async def test_a_cancel_ib_confirms_is_reported_done(
    tws: TradingTws, ib_engine: TradingEngine, repository: BookRepository
) -> None:
    reply = await ib_engine.place_manual(btc_order("to-cancel", order_type="LMT", limit_price="59000", tif="GTC"))
    await reaches(repository, reply.client_ref, OrderStatus.ACCEPTED)

    answer = await ib_engine.cancel(CancelOrder(order_id=reply.order_ids[0]))

    assert (answer.outcome, answer.status) == ("cancelled", OrderStatus.CANCELLED)
    assert len(tws.requests_of(OrderIn.CANCEL_ORDER)) == 1


async def test_a_cancel_ib_refuses_is_reported_refused_with_ibs_reason(
    tws: TradingTws, ib_engine: TradingEngine, repository: BookRepository
) -> None:
    reply = await ib_engine.place_manual(btc_order("refused", order_type="LMT", limit_price="59000", tif="GTC"))
    await reaches(repository, reply.client_ref, OrderStatus.ACCEPTED)
    tws.refuse_cancels = True

    answer = await ib_engine.cancel(CancelOrder(order_id=reply.order_ids[0]))

    assert answer.outcome == "refused"
    assert "10148" in answer.reason
    assert await status_of(repository, reply.client_ref) is OrderStatus.ACCEPTED


async def test_an_order_ib_cancels_by_itself_is_recorded_with_the_reason(
    tws: TradingTws, ib_engine: TradingEngine, repository: BookRepository
) -> None:
    reply = await ib_engine.place_manual(btc_order("ib-cancels", order_type="LMT", limit_price="59000", tif="GTC"))
    await reaches(repository, reply.client_ref, OrderStatus.ACCEPTED)

    await tws.cancel_at_ib(reply.client_ref, 202, "Order Canceled - reason:margin")

    await reaches(repository, reply.client_ref, OrderStatus.CANCELLED)
    order = await repository.order_by_ref(reply.client_ref)
    assert order is not None
    assert order.reason == "IB 202: Order Canceled - reason:margin"


async def test_losing_ib_with_orders_working_halts_trading_and_says_why(
    tws: TradingTws, ib_engine: TradingEngine, repository: BookRepository
) -> None:
    reply = await ib_engine.place_manual(btc_order("working", order_type="LMT", limit_price="59000", tif="GTC"))
    await reaches(repository, reply.client_ref, OrderStatus.ACCEPTED)

    await tws.drop_all()

    async def halted() -> bool:
        return (await repository.risk()).state is TradingState.HALTED

    await eventually(halted, "trading to halt")
    risk = await repository.risk()
    assert "connection to the broker lost with 1 working orders" in risk.reason
    assert risk.changed_by == "risk-engine"


async def test_losing_ib_with_nothing_working_does_not_halt(
    tws: TradingTws, ib_engine: TradingEngine, repository: BookRepository
) -> None:
    await tws.drop_all()

    async def disconnected() -> bool:
        account = await repository.account()
        return account is not None and not account.connected

    await eventually(disconnected, "the account to show IB disconnected")
    assert (await repository.risk()).state is TradingState.ACTIVE


async def test_after_a_reconnect_executions_missed_while_away_are_applied(
    tws: TradingTws, ib_engine: TradingEngine, repository: BookRepository
) -> None:
    reply = await ib_engine.place_manual(btc_order("away", order_type="LMT", limit_price="59000", tif="GTC"))
    await reaches(repository, reply.client_ref, OrderStatus.ACCEPTED)
    await tws.stop()
    [order] = tws.orders_with_ref(reply.client_ref)
    tws._execute(order, 59_000.0, order.quantity)
    await tws.start()

    await reaches(repository, reply.client_ref, OrderStatus.FILLED, timeout=10)
    [position] = await repository.positions()
    assert position.quantity == Decimal("0.1")


async def test_an_ib_paper_broker_refuses_a_live_account(
    repository: BookRepository, nats_broker: NatsBroker, strategies: StrategyRepository
) -> None:
    async with TradingTws(CONTRACTS, accounts=("U7654321",)) as live:
        with pytest.raises(IbAccountRefusedError, match="U7654321 is a live account"):
            await start_ib_engine(live, repository, nats_broker, strategies)


async def test_an_ib_broker_whose_client_id_is_taken_says_which_setting_to_change(
    repository: BookRepository, nats_broker: NatsBroker, strategies: StrategyRepository
) -> None:
    async with TradingTws(CONTRACTS) as tws:
        tws.reserved_client_ids.add(12)
        with pytest.raises(VenueUnavailableError, match=r"326.*TRADELANE_BROKER_IB_CLIENT_ID"):
            await start_ib_engine(tws, repository, nats_broker, strategies)
        assert tws.sessions_started == 0


async def _is(repository: BookRepository, client_ref: str, status: OrderStatus) -> bool:
    return await status_of(repository, client_ref) is status


async def reaches(repository: BookRepository, client_ref: str, status: OrderStatus, timeout: float = 5) -> None:
    """Wait until the order ``client_ref`` has ``status``."""
    await eventually(lambda: _is(repository, client_ref, status), f"order {client_ref} to be {status}", timeout=timeout)


async def restart(
    engine: TradingEngine,
    tws: TradingTws,
    repository: BookRepository,
    nats_broker: NatsBroker,
    strategies: StrategyRepository,
) -> TradingEngine:
    """The broker process ends (its IB session with it) and a new one starts on the same book."""
    await engine.venue.close()
    return await start_ib_engine(tws, repository, nats_broker, strategies)


async def test_an_order_ib_took_but_never_confirmed_is_adopted_after_a_restart_not_sent_again(
    tws: TradingTws,
    ib_engine: TradingEngine,
    repository: BookRepository,
    nats_broker: NatsBroker,
    strategies: StrategyRepository,
) -> None:
    tws.answer_orders = False
    reply = await ib_engine.place_manual(btc_order("silent", order_type="LMT", limit_price="59000", tif="GTC"))
    assert await status_of(repository, reply.client_ref) is OrderStatus.PENDING_SUBMIT
    tws.answer_orders = True

    restarted = await restart(ib_engine, tws, repository, nats_broker, strategies)

    assert await status_of(repository, reply.client_ref) is OrderStatus.ACCEPTED
    assert len(tws.requests_of(OrderIn.PLACE_ORDER)) == 1
    assert [record.kind for record in await repository.reconciliations()] == ["adopted"]
    await restarted.venue.close()


async def test_an_order_ib_filled_while_the_broker_was_down_is_filled_in_the_book_after_a_restart(
    tws: TradingTws,
    ib_engine: TradingEngine,
    repository: BookRepository,
    nats_broker: NatsBroker,
    strategies: StrategyRepository,
) -> None:
    tws.answer_orders = False
    reply = await ib_engine.place_manual(btc_order("filled-unheard"))
    assert tws.orders_with_ref(reply.client_ref)[0].status == "Filled"
    tws.answer_orders = True

    restarted = await restart(ib_engine, tws, repository, nats_broker, strategies)

    assert await status_of(repository, reply.client_ref) is OrderStatus.FILLED
    [position] = await repository.positions()
    assert position.quantity == Decimal("0.1")
    assert len(tws.requests_of(OrderIn.PLACE_ORDER)) == 1
    await restarted.venue.close()


async def test_an_order_that_never_reached_ib_is_sent_exactly_once_after_a_restart(
    tws: TradingTws,
    ib_engine: TradingEngine,
    repository: BookRepository,
    nats_broker: NatsBroker,
    strategies: StrategyRepository,
) -> None:
    """As if the broker died after recording the bracket and marking it sent, before a byte reached IB."""
    signal = signal_generated(at=utc_now())
    plan = plan_for_signal(signal, "LMT", TimeInForce.DAY)
    async with repository.transaction() as tx:
        await ib_engine.placement.decide(tx, plan, utc_now())
        await tx.claim_unsent(plan.group_ref)

    restarted = await restart(ib_engine, tws, repository, nats_broker, strategies)
    await restarted.on_signal(await stored(signal, repository, strategies))  # JetStream redelivers the signal too

    placed = [request.fields[26] for request in tws.requests_of(OrderIn.PLACE_ORDER)]
    assert sorted(placed) == sorted([plan.group_ref, f"{plan.group_ref}-tp", f"{plan.group_ref}-sl"])
    await reaches(repository, plan.group_ref, OrderStatus.FILLED)
    resent = {record.client_ref for record in await repository.reconciliations() if record.kind == "resent"}
    assert resent == {plan.group_ref, f"{plan.group_ref}-tp", f"{plan.group_ref}-sl"}
    await restarted.venue.close()


async def test_positions_and_cash_that_differ_from_ib_are_corrected_and_recorded(
    tws: TradingTws, repository: BookRepository, nats_broker: NatsBroker, strategies: StrategyRepository
) -> None:
    tws.seed_position(FakePosition(AAPL.conid, "AAPL", "STK", "NASDAQ", "USD", 10.0, 150.0))
    tws.cash = 98_500.0

    engine = await start_ib_engine(tws, repository, nats_broker, strategies)

    [position] = await repository.positions()
    assert (position.instrument.symbol, position.quantity, position.average_cost) == ("AAPL", Decimal(10), Decimal(150))
    account = await repository.account()
    assert account is not None
    assert account.cash == Decimal("98500.00")
    kinds = sorted(record.kind for record in await repository.reconciliations())
    assert kinds == ["cash", "position"]
    await engine.venue.close()


async def test_the_book_opens_at_ibs_net_liquidation_value(
    tws: TradingTws, ib_engine: TradingEngine, repository: BookRepository
) -> None:
    account = await repository.account()
    assert account is not None
    assert (account.venue.value, account.mode, account.account_id) == ("ib", "paper", "DU1234567")
    assert account.initial_cash == Decimal("100000.00")


async def test_a_replay_never_reaches_ib_even_when_it_asked_to_trade(
    tws: TradingTws, ib_engine: TradingEngine, repository: BookRepository, strategies: StrategyRepository
) -> None:
    replayed = signal_generated(at=utc_now(), replay_of=uuid4()).model_copy(update={"replay_places_orders": True})
    assert await ib_engine.on_signal(await stored(replayed, repository, strategies)) == []
    assert tws.requests_of(OrderIn.PLACE_ORDER) == []
    assert await repository.orders() == []
