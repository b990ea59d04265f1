"""The broker's subscriber of fetched bars never answers the publisher of those bars."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from uuid import uuid4

import pytest
from nats.aio.client import Client as NatsClient

from tests.support.messages import collect
from tests.support.waiting import consistently
from tradelane.contracts import subjects
from tradelane.contracts.events import BarsFetched, ExecutionRequested, Trigger
from tradelane.contracts.market import Bar, ResolvedSymbol
from tradelane.contracts.strategy import AssetType, BarSize, StrategyDefinition, SymbolRef
from tradelane.runtime.bus import event_headers
from tradelane.runtime.payloads import PayloadStore


async def _bars(payloads: PayloadStore) -> BarsFetched:
    request = ExecutionRequested(
        execution_id=uuid4(),
        strategy_id=uuid4(),
        strategy=StrategyDefinition(name="s", symbol=SymbolRef(symbol="AAPL")),
        trigger=Trigger.MANUAL,
        as_of=datetime(2026, 11, 20, tzinfo=UTC),
    )
    return request.follow(
        BarsFetched,
        strategy=request.strategy,
        symbol=ResolvedSymbol(conid=1, symbol="AAPL", exchange="NASDAQ", currency="USD", asset_type=AssetType.STOCK),
        bars=await payloads.put_bars(
            1, BarSize.DAY_1, (Bar(time=request.as_of, open=1, high=2, low=0.5, close=1.5, volume=10),)
        ),
        provider="test",
    )


@pytest.mark.usefixtures("nats_broker", "broker_service")
async def test_only_the_stream_answers_a_publisher_of_bars(nats_client: NatsClient, payloads: PayloadStore) -> None:
    """market-data's ``js.publish`` awaits the stream's acknowledgement on its reply inbox.

    The broker receives the same message on a core subscription, with that inbox as reply
    subject; an answer of its own there (an empty body) that came before the acknowledgement
    made market-data fail with a JSONDecodeError and dead-letter a valid request.
    """
    inbox = nats_client.new_inbox()
    answers = await collect(nats_client, inbox)
    bars = await _bars(payloads)
    await nats_client.publish(
        subjects.MARKET_DATA_FETCHED, bars.model_dump_json().encode(), reply=inbox, headers=event_headers(bars)
    )
    first = await answers.next()
    await consistently(
        lambda: len(answers.messages) == 1, "no second answer while the broker's handler runs", seconds=1.5
    )
    assert json.loads(first.data)["stream"] == subjects.PIPELINE_STREAM
