"""The services around the backtester, played by the test's own NATS client.

market-data answers resolve and bars requests with hourly bars of a trading session; the pipeline
answers an execution request with the events its analysis and signal steps (or a failing step) publish.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Final, Literal

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from tradelane.contracts import subjects
from tradelane.contracts.envelope import Envelope
from tradelane.contracts.events import (
    Action,
    Analysis,
    AnalysisCompleted,
    ExecutionRequested,
    LlmCall,
    Signal,
    SignalGenerated,
    SignalRejected,
    StepFailed,
)
from tradelane.contracts.history import BarsReply, BarsRequest, ResolveReply, ResolveRequest
from tradelane.contracts.market import Bar, MarketSnapshot, ResolvedSymbol
from tradelane.contracts.strategy import AssetType, BarSize
from tradelane.contracts.symbols import SymbolServiceError
from tradelane.runtime.bus import event_headers

AAPL: Final = ResolvedSymbol(conid=265598, symbol="AAPL", exchange="NASDAQ", currency="USD", asset_type=AssetType.STOCK)
HOUR: Final = timedelta(hours=1)
ANALYSIS: Final = Analysis(bias="bullish", trend="uptrend", confidence=70, model="vision-test")


def session_bars(first_day: datetime, days: int) -> list[Bar]:
    """Hourly bars from 14:00 to 21:00 UTC on the weekdays of ``days`` days from ``first_day``."""
    bars: list[Bar] = []
    for day in range(days):
        date = first_day + timedelta(days=day)
        if date.weekday() < 5:
            bars.extend(
                Bar(time=date + timedelta(hours=hour), open=100, high=101, low=99, close=100.5, volume=10)
                for hour in range(14, 21)
            )
    return bars


async def serve_market_data(client: NatsClient, bars: Sequence[Bar]) -> list[Subscription]:
    """Answer resolve requests (AAPL only) and bars requests with those of ``bars`` in the window asked for."""

    async def resolve(msg: Msg) -> None:
        asked = ResolveRequest.model_validate_json(msg.data).symbol
        found = (
            ResolveReply(symbol=AAPL)
            if asked.symbol == AAPL.symbol
            else ResolveReply(error=SymbolServiceError(kind="not_found", message=f"no instrument {asked.symbol}"))
        )
        await msg.respond(found.model_dump_json().encode())

    async def answer_bars(msg: Msg) -> None:
        request = BarsRequest.model_validate_json(msg.data)
        window = tuple(bar for bar in bars if request.start <= bar.time < request.end)
        await msg.respond(BarsReply(bars=window).model_dump_json().encode())

    return [
        await client.subscribe(subjects.MARKET_DATA_RESOLVE, cb=resolve),
        await client.subscribe(subjects.MARKET_DATA_BARS, cb=answer_bars),
    ]


def llm_call(*, cached: bool, cost: str) -> LlmCall:
    return LlmCall(
        purpose="analysis",
        timeframe=BarSize.HOUR_1,
        provider="llm.test",
        model="vision-test",
        templates=(),
        system_prompt="system",
        prompt="prompt",
        temperature=0.2,
        max_tokens=2000,
        cost=Decimal(cost),
        cached=cached,
        cache_key="k" * 64,
    )


def analysis_of(request: ExecutionRequested, calls: Sequence[LlmCall] = ()) -> AnalysisCompleted:
    snapshot = MarketSnapshot(
        symbol=AAPL,
        bar_size=BarSize.HOUR_1,
        last_bar_time=request.as_of - HOUR,
        last_close=100.5,
        recent_bars=(),
        latest={},
        previous={},
    )
    return request.follow(
        AnalysisCompleted, strategy=request.strategy, snapshot=snapshot, analysis=ANALYSIS, llm_calls=tuple(calls)
    )


def _signal(request: ExecutionRequested, action: Action) -> Signal:
    priced = action is not Action.HOLD
    return Signal(
        action=action,
        confidence=70,
        symbol=AAPL,
        entry=Decimal(100) if priced else None,
        stop=Decimal(99) if priced else None,
        targets=(Decimal(102),) if priced else (),
        expires_at=request.as_of + HOUR,
        model="vision-test",
    )


Outcome = Literal["buy", "hold", "rejected", "failed"]


def answers_to(request: ExecutionRequested, outcome: Outcome, calls: Sequence[LlmCall] = ()) -> list[Envelope]:
    """The events the pipeline publishes for ``request``: its analysis and signal, or a failed step."""
    if outcome == "failed":
        return [
            request.follow(
                StepFailed,
                step="indicators",
                kind="permanent",
                error="too few bars for sma_200",
                input_subject=subjects.MARKET_DATA_FETCHED,
                deliveries=1,
            )
        ]
    analysis = analysis_of(request, calls)
    signal: Envelope
    if outcome == "rejected":
        signal = analysis.follow(
            SignalRejected,
            strategy=request.strategy,
            rule="min_risk_reward",
            reason="R 0.8 is below 1.5",
            candidate=_signal(request, Action.SELL),
            analysis=ANALYSIS,
        )
    else:
        action = Action.BUY if outcome == "buy" else Action.HOLD
        signal = analysis.follow(
            SignalGenerated, strategy=request.strategy, signal=_signal(request, action), analysis=ANALYSIS
        )
    return [analysis, signal]


async def publish(client: NatsClient, event: Envelope, *, again: bool = False) -> None:
    """Publish ``event`` to its stream; ``again``: a copy JetStream's de-duplication does not drop (a redelivery)."""
    subject = subjects.subject_for(event)
    headers = event_headers(event)
    if again:
        headers["Nats-Msg-Id"] += "-again"
    await client.jetstream().publish(
        subject, event.model_dump_json().encode(), headers=headers, stream=subjects.stream_of(subject)
    )


async def answer(
    client: NatsClient, request: ExecutionRequested, outcome: Outcome = "hold", calls: Sequence[LlmCall] = ()
) -> None:
    for event in answers_to(request, outcome, calls):
        await publish(client, event)
