"""The incident, replayed against the real signals and broker services on NATS and Postgres.

A fake OpenAI-compatible model answered SELL with entry 1.00, stop 1.50 and targets 0.50/0.25 for
BTC trading near 61,000; the signals service accepted it and the broker placed a paper SELL LMT of
2,000 BTC at 1.00, which filled at 61,140. Now the signals service rejects the entry (outside the
collar around the last close), and a forged signal with the same numbers that skips the signals
service is refused by the broker (outside the price collar around the mark): no order fills.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import pytest
from nats.aio.client import Client as NatsClient

from tests.support.waiting import eventually
from tradelane.contracts import subjects
from tradelane.contracts.envelope import utc_now
from tradelane.contracts.events import Action, Analysis, AnalysisCompleted, Signal, SignalGenerated
from tradelane.contracts.market import Bar, MarketSnapshot
from tradelane.contracts.strategy import BarSize
from tradelane.contracts.trading import OrderStatus
from tradelane.runtime.bus import event_headers
from tradelane.runtime.service import Service
from tradelane.runtime.settings import Settings
from tradelane.signals.app import build as build_signals
from tradelane.store.book.transactions import BookRepository
from tradelane.store.strategies import StrategyRepository

from .support import BTC, strategy

MARK = Decimal(61_140)
MODEL_SAYS = Analysis(
    bias="bearish",
    trend="downtrend",
    confidence=90,
    suggested_entry=1.00,
    suggested_stop=1.50,
    suggested_targets=(0.50, 0.25),
    key_factors=("the fake model's answer",),
    model="fake-openai-compatible",
)


@pytest.fixture
async def signals_service(settings: Settings) -> AsyncIterator[Service]:
    service = build_signals(settings)
    await service.start()
    yield service
    await service.close()


async def stored_message(client: NatsClient, stream: str, subject: str, execution_id: UUID) -> dict[str, Any] | None:
    """The body of the message of ``execution_id`` on ``subject`` in ``stream``, if it is there yet."""
    js = client.jetstream()
    info = await js.stream_info(stream)
    for sequence in range(info.state.first_seq, info.state.last_seq + 1) if info.state.messages else ():
        message = await js.get_msg(stream, sequence)
        body = json.loads(message.data or b"{}")
        if message.subject == subject and body.get("execution_id") == str(execution_id):
            return dict(body)
    return None


def btc_snapshot() -> MarketSnapshot:
    """BTC on 1-hour bars, last close 61,000, ATR about 900."""
    now = utc_now().replace(minute=0, second=0, microsecond=0)
    bars = tuple(
        Bar(time=now - timedelta(hours=20 - i), open=61_000, high=61_450, low=60_550, close=61_000, volume=5)
        for i in range(20)
    )
    return MarketSnapshot(
        symbol=BTC,
        bar_size=BarSize.HOUR_1,
        last_bar_time=bars[-1].time,
        last_close=61_000.0,
        recent_bars=bars,
        latest={"atr_14": 900.0},
        previous={},
    )


@pytest.fixture
async def btc_strategy(strategies: StrategyRepository, repository: BookRepository) -> UUID:
    """An auto-trading BTC strategy, stored, with the broker's mark at 61,140 (from the execution's bars)."""
    created = await strategies.create(strategy(auto_trade=True))
    await repository.upsert_instrument(BTC, MARK, utc_now())
    return created.id


@pytest.mark.usefixtures("broker_service", "signals_service")
async def test_a_far_off_model_entry_places_no_order(
    nats_client: NatsClient, repository: BookRepository, btc_strategy: UUID
) -> None:
    analysis = AnalysisCompleted(
        execution_id=uuid4(),
        strategy_id=btc_strategy,
        strategy=strategy(auto_trade=True),
        snapshot=btc_snapshot(),
        analysis=MODEL_SAYS,
    )
    await nats_client.jetstream().publish(
        subjects.ANALYSIS_COMPLETED,
        analysis.model_dump_json().encode(),
        headers=event_headers(analysis),
        stream=subjects.PIPELINE_STREAM,
    )

    async def rejection() -> dict[str, Any] | None:
        return await stored_message(
            nats_client, subjects.PIPELINE_STREAM, subjects.SIGNAL_REJECTED, analysis.execution_id
        )

    rejected = await eventually(rejection, "the signals service to reject the signal")
    assert rejected["rule"] == "entry_collar"
    assert "the entry 1.00 is 60999 from the last close 61000.0" in rejected["reason"]
    assert await stored_message(
        nats_client, subjects.PIPELINE_STREAM, subjects.SIGNAL_GENERATED, analysis.execution_id
    ) is None  # fmt: skip
    assert await repository.orders() == []
    assert await repository.positions() == []


@pytest.mark.usefixtures("broker_service")
async def test_a_forged_signal_with_the_models_numbers_is_refused_by_the_broker(
    nats_client: NatsClient, repository: BookRepository, btc_strategy: UUID
) -> None:
    """Defence in depth: even a signal that never went through the signals service cannot trade at 1.00."""
    forged = SignalGenerated(
        execution_id=uuid4(),
        strategy_id=btc_strategy,
        strategy=strategy(auto_trade=True),
        signal=Signal(
            action=Action.SELL,
            confidence=90,
            symbol=BTC,
            entry=Decimal("1.00"),
            stop=Decimal("1.50"),
            targets=(Decimal("0.50"), Decimal("0.25")),
            suggested_quantity=2000,
            expires_at=utc_now() + timedelta(hours=24),
            model="fake-openai-compatible",
        ),
        analysis=MODEL_SAYS,
    )
    await nats_client.jetstream().publish(
        subjects.SIGNAL_GENERATED,
        forged.model_dump_json().encode(),
        headers=event_headers(forged),
        stream=subjects.PIPELINE_STREAM,
    )

    async def refusal() -> dict[str, Any] | None:
        return await stored_message(nats_client, subjects.TRADING_STREAM, subjects.ORDER_REJECTED, forged.execution_id)

    refused = await eventually(refusal, "the broker to refuse the order")
    assert refused["rule"] == "price_collar"
    assert refused["reason"] == (
        "the limit price 1 is 100.00 % from the mark 61140 of BTC, beyond the price collar of 5.00 %"
    )
    [order] = await repository.orders()
    assert (order.status, order.reject_rule, order.filled_quantity) == (
        OrderStatus.REJECTED,
        "price_collar",
        Decimal(0),
    )
    assert await repository.positions() == []
