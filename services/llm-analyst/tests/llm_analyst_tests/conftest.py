"""The analyst against real servers: a fake OpenAI-compatible server on loopback, NATS and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import uuid4

import asyncpg
import openai
import pytest

from llm_analyst_tests.fake_llm import FakeLlmServer
from llm_analyst_tests.support import PNG, MakeAnalyst, MakeChart, MakeStrategy, Reply, timeframe_png
from tradelane.contracts.events import ChartRendered, TimeframeChart
from tradelane.contracts.llm_pricing import ModelPrice
from tradelane.contracts.market import Bar, MarketSnapshot, ResolvedSymbol
from tradelane.contracts.strategy import AnalysisSettings, AssetType, BarSize, StrategyDefinition, SymbolRef
from tradelane.llm_analyst.analyst import AnalystConfig, LlmAnalyst
from tradelane.llm_analyst.budget import DailyBudget
from tradelane.llm_analyst.client import LlmClient
from tradelane.llm_analyst.templates import TemplateSource
from tradelane.runtime.bus import EventBus
from tradelane.store.llm import LlmRepository
from tradelane.store.prompts import PromptRepository

MODEL = "vision-test"
PRICES = {MODEL: ModelPrice(input_per_million=Decimal(2), output_per_million=Decimal(8))}
START = datetime(2025, 1, 6, tzinfo=UTC)
"""A Monday."""

ANSWER: dict[str, Any] = {
    "bias": "bullish",
    "trend": "uptrend",
    "confidence": 72,
    "support": [99.5, 96.5],
    "resistance": [106.5, 112.5],
    "suggested_entry": 105.0,
    "suggested_stop": 99.0,
    "suggested_targets": [112.5],
    "key_factors": ["close above SMA 20", "MACD above its signal"],
    "reasoning": "Price holds above rising averages.",
}


def daily_bars(count: int = 30) -> tuple[Bar, ...]:
    """Daily bars from Monday 6 January 2025, rising by one a day."""
    return bars_every(timedelta(days=1), count)


def bars_every(step: timedelta, count: int) -> tuple[Bar, ...]:
    """Bars ``step`` apart from Monday 6 January 2025, rising by one a bar."""
    return tuple(
        Bar(
            time=START + step * index,
            open=100.0 + index,
            high=101.5 + index,
            low=99.5 + index,
            close=101.0 + index,
            volume=1000.0,
        )
        for index in range(count)
    )


def strategy(**analysis: Any) -> StrategyDefinition:
    """A daily AAPL strategy with these analysis settings."""
    return StrategyDefinition(
        name="aapl-daily", symbol=SymbolRef(symbol="AAPL"), analysis=AnalysisSettings.model_validate(analysis)
    )


def reply(**changes: Any) -> str:
    """The JSON of :data:`ANSWER` with ``changes``."""
    return json.dumps({**ANSWER, **changes})


@pytest.fixture
def answer() -> dict[str, Any]:
    """A valid answer, as a model would send it."""
    return dict(ANSWER)


@pytest.fixture
def valid_reply() -> Reply:
    """``valid_reply(**changes)``: the JSON of the valid answer with ``changes``."""
    return reply


@pytest.fixture
def make_strategy() -> MakeStrategy:
    """``make_strategy(**analysis)``: a daily AAPL strategy with these analysis settings."""
    return strategy


@pytest.fixture
def png() -> bytes:
    """The chart PNG every made chart carries."""
    return PNG


@pytest.fixture
def model() -> str:
    """The analyst's default model, priced at 2 (input) and 8 (output) per million tokens."""
    return MODEL


@pytest.fixture
async def fake_llm() -> AsyncIterator[FakeLlmServer]:
    server = FakeLlmServer()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def openai_client(fake_llm: FakeLlmServer) -> AsyncIterator[openai.AsyncOpenAI]:
    client = openai.AsyncOpenAI(base_url=fake_llm.base_url, api_key="test-key", timeout=2.0, max_retries=0)
    yield client
    await client.close()


@pytest.fixture
def calls(pool: asyncpg.Pool[Any]) -> LlmRepository:
    return LlmRepository(pool)


@pytest.fixture
def prompts(pool: asyncpg.Pool[Any]) -> PromptRepository:
    return PromptRepository(pool)


@pytest.fixture
def make_chart(bus: EventBus) -> MakeChart:
    """A ``ChartRendered`` whose PNGs (and figures) are in the object store.

    Each extra timeframe of the strategy gets its own chart: five bars a timeframe apart and the
    PNG :func:`timeframe_png`; ``timeframe_charts=False`` leaves them out, as an old message would.
    """

    async def chart_of(bar_size: BarSize, bars: tuple[Bar, ...], png: bytes | None) -> TimeframeChart:
        snapshot = MarketSnapshot(
            symbol=ResolvedSymbol(
                conid=265598, symbol="AAPL", exchange="NASDAQ", currency="USD", asset_type=AssetType.STOCK
            ),
            bar_size=bar_size,
            last_bar_time=bars[-1].time,
            last_close=bars[-1].close,
            recent_bars=bars,
            latest={"sma_20": 120.0, "rsi_14": 64.0, "atr_14": 2.0},
            previous={"sma_20": 119.0, "rsi_14": 61.0, "atr_14": 2.0},
        )
        figure = await bus.put_object(b'{"data": []}', "application/vnd.plotly.v1+json")
        png_ref = await bus.put_object(png, "image/png") if png is not None else None
        return TimeframeChart(snapshot=snapshot, figure=figure, png=png_ref)

    async def make(
        definition: StrategyDefinition | None = None,
        *,
        png: bool = True,
        bars: tuple[Bar, ...] | None = None,
        execution_id: Any = None,
        timeframe_charts: bool = True,
    ) -> ChartRendered:
        definition = definition or strategy()
        base = await chart_of(definition.bar_size, bars or daily_bars(), PNG if png else None)
        extra = [
            await chart_of(
                frame, bars_every(timedelta(seconds=frame.seconds), 5), timeframe_png(frame) if png else None
            )
            for frame in (definition.extra_timeframes if timeframe_charts else ())
        ]
        return ChartRendered(
            execution_id=execution_id or uuid4(),
            strategy_id=uuid4(),
            strategy=definition,
            snapshot=base.snapshot,
            figure=base.figure,
            png=base.png,
            timeframes=tuple(extra),
        )

    return make


@pytest.fixture
def make_analyst(
    openai_client: openai.AsyncOpenAI, bus: EventBus, calls: LlmRepository, prompts: PromptRepository
) -> MakeAnalyst:
    """An analyst on the fake server, NATS and PostgreSQL; keyword arguments change its config."""

    def make(
        *,
        retry_budget: float = 5.0,
        max_attempts: int = 3,
        max_concurrency: int = 4,
        budget: DailyBudget | None = None,
    ) -> LlmAnalyst:
        return LlmAnalyst(
            budget=budget,
            client=LlmClient(openai_client, max_concurrency=max_concurrency, max_attempts=max_attempts),
            templates=TemplateSource(prompts),
            calls=calls,
            fetch_image=bus.get_object,
            config=AnalystConfig(
                default_model=MODEL,
                provider="127.0.0.1",
                prices=PRICES,
                retry_budget_seconds=retry_budget,
            ),
        )

    return make
