"""The running broker never acts on a backtest: its signals place no order and its old bars move no mark."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TypeVar
from uuid import uuid4

import pytest
from nats.aio.client import Client as NatsClient

from tests.support.waiting import eventually
from tradelane.contracts import subjects
from tradelane.contracts.envelope import BacktestTag, Envelope, utc_now
from tradelane.runtime.bus import event_headers
from tradelane.runtime.payloads import PayloadStore
from tradelane.store.book.transactions import BookRepository
from tradelane.store.strategies import StrategyRepository

from .support import AAPL, BTC, bar, bars_fetched, signal_generated, stored

DECIDED_AT = datetime(2025, 1, 2, 21, 0, tzinfo=UTC)

TAG = BacktestTag(backtest_id=uuid4(), variant="base", seq=3, decided_at=DECIDED_AT)
EventT = TypeVar("EventT", bound=Envelope)


def as_backtest(event: EventT) -> EventT:
    """The same event as a decision of a backtest publishes it (another message of another execution)."""
    return event.model_copy(update={"message_id": uuid4(), "execution_id": uuid4(), "backtest": TAG})


@pytest.mark.usefixtures("broker_service")
async def test_a_backtest_signal_of_an_auto_trading_strategy_places_no_order_while_the_live_one_does(
    nats_client: NatsClient, repository: BookRepository, strategies: StrategyRepository
) -> None:
    """Defence in depth: a backtest's signal on the live subject (where a signals service of an older version puts
    it; backtests' signals have subjects of their own now) places no order either. The broker handles its signals one
    at a time in stream order: the backtest's is handled before the live one."""
    live = await stored(signal_generated(at=utc_now()), repository, strategies)
    backtest = as_backtest(live)
    for signal in (backtest, live):
        await nats_client.jetstream().publish(
            subjects.SIGNAL_GENERATED,
            signal.model_dump_json().encode(),
            headers=event_headers(signal),
            stream=subjects.PIPELINE_STREAM,
        )

    orders = await eventually(repository.orders, "the live signal's orders")
    assert {order.signal_id for order in orders} == {live.message_id}
    assert all(order.execution_id == live.execution_id for order in await repository.orders())


@pytest.mark.usefixtures("broker_service")
async def test_a_backtests_bars_move_no_mark_while_live_bars_do(
    nats_client: NatsClient, repository: BookRepository, payloads: PayloadStore
) -> None:
    """Defence in depth: a backtest's bars on the live subject (where a market-data service of an older version puts
    them; backtests' bars have a subject of their own now) move no mark either. Bars are handled one at a time in the
    order published: the backtest's BTC bars come before the live AAPL bars."""
    long_ago = utc_now() - timedelta(days=400)
    backtest = as_backtest(await bars_fetched(payloads, (bar(long_ago, 1, 1, 1, 1),), BTC))
    live = await bars_fetched(payloads, (bar(utc_now(), 190, 191, 189, 190.5),), AAPL)
    for bars in (backtest, live):
        await nats_client.publish(subjects.MARKET_DATA_FETCHED, bars.model_dump_json().encode())

    _, mark, _ = await eventually(lambda: repository.instrument(AAPL.conid), "the live bars' mark")
    assert str(mark) == "190.5"
    assert await repository.instrument(BTC.conid) is None
