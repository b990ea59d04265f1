"""A backtest decision at time t sees only bars closed by t, in every timeframe; a live run is read as before.

The provider plants a huge spike in every bar that closes after ``T`` (the bar in progress at ``T`` too), as IB
and the simulated provider return a past bar in progress with its complete values. The bars a decision publishes
are read back from the payload store.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import asyncpg
import pytest
from pydantic import SecretStr

from market_data_tests.spiked_provider import INSTRUMENT, REF, SPIKE, SpikedProvider, T, next_start
from tradelane.contracts.envelope import BacktestTag
from tradelane.contracts.events import BarsFetched, ExecutionRequested, Trigger
from tradelane.contracts.history import BarsRequest
from tradelane.contracts.market import Bar
from tradelane.contracts.payloads import chunk_start
from tradelane.contracts.strategy import (
    MAX_BARS,
    TIMEFRAME_HISTORY,
    AnalysisSettings,
    BarSize,
    StrategyDefinition,
    duration_seconds,
)
from tradelane.market_data.handlers import BarsFetcher
from tradelane.market_data.history import bars_between
from tradelane.market_data.stored_history import AHEAD_BARS, StoredHistory, wider_request
from tradelane.runtime.bus import EventBus
from tradelane.runtime.errors import PermanentStepError
from tradelane.runtime.payloads import PayloadStore
from tradelane.runtime.service import create_broker
from tradelane.runtime.settings import Settings
from tradelane.runtime.streams import provision
from tradelane.store.bar_history import BarHistoryRepository
from tradelane.store.pool import create_pool

NOW = datetime(2025, 9, 1, tzinfo=UTC)
"""The stored history's clock: a few months after ``T``."""
STRATEGIES = {
    "minutes": StrategyDefinition(
        name="minutes",
        symbol=REF,
        bar_size=BarSize.MIN_1,
        duration="1 D",
        analysis=AnalysisSettings(timeframes=(BarSize.MIN_5, BarSize.MIN_15, BarSize.MIN_30)),
    ),
    "hours and days": StrategyDefinition(
        name="hours and days",
        symbol=REF,
        bar_size=BarSize.HOUR_1,
        duration="30 D",
        analysis=AnalysisSettings(timeframes=(BarSize.HOUR_4, BarSize.DAY_1)),
    ),
    "weeks and months": StrategyDefinition(
        name="weeks and months",
        symbol=REF,
        bar_size=BarSize.WEEK_1,
        duration="5 Y",
        analysis=AnalysisSettings(timeframes=(BarSize.MONTH_1,)),
    ),
}
"""Between them, every bar size."""


def decision(strategy: StrategyDefinition, as_of: datetime, *, backtest: bool = True) -> ExecutionRequested:
    tag = BacktestTag(backtest_id=uuid4(), variant="base", seq=0, decided_at=as_of) if backtest else None
    return ExecutionRequested(
        execution_id=uuid4(),
        strategy_id=uuid4(),
        strategy=strategy,
        trigger=Trigger.BACKTEST if backtest else Trigger.MANUAL,
        as_of=as_of,
        backtest=tag,
    )


async def every_timeframe(payloads: PayloadStore, fetched: BarsFetched) -> dict[BarSize, tuple[Bar, ...]]:
    frames = {fetched.strategy.bar_size: fetched.bars} | {frame.bar_size: frame.bars for frame in fetched.timeframes}
    return {bar_size: await payloads.bars(window) for bar_size, window in frames.items()}


@dataclass(frozen=True)
class Servers:
    pool: asyncpg.Pool[Any]
    payloads: PayloadStore


@pytest.fixture(scope="module")
async def servers(module_servers: Any) -> AsyncIterator[Servers]:
    """A database and a payload store for the whole module (``module_servers`` is the root conftest's)."""
    settings = Settings(
        nats_url=module_servers.nats_url,
        nats_credentials_file=module_servers.nats_credentials_file,
        database_url=SecretStr(module_servers.database_url),
        log_format="console",
        health_port=None,
    )
    broker = create_broker(settings, "test")
    await broker.connect()
    await provision(broker.connection.jetstream(), settings)
    pool = await create_pool(module_servers.database_url)
    yield Servers(pool, PayloadStore(EventBus(broker)))
    await pool.close()
    await broker.stop()


@pytest.fixture
def payloads(servers: Servers) -> PayloadStore:
    return servers.payloads


@pytest.fixture
def provider() -> SpikedProvider:
    """A provider of a name of its own: the stored history of one test is not another's."""
    return SpikedProvider(f"spiked-{uuid4().hex[:8]}")


@pytest.fixture
def stored(provider: SpikedProvider, servers: Servers) -> StoredHistory:
    return StoredHistory(provider, BarHistoryRepository(servers.pool, provider.name), clock=lambda: NOW)


@pytest.fixture
def fetcher(provider: SpikedProvider, payloads: PayloadStore, stored: StoredHistory) -> BarsFetcher:
    return BarsFetcher(provider, payloads, lambda: stored)


@pytest.mark.parametrize("strategy", STRATEGIES.values(), ids=STRATEGIES.keys())
@pytest.mark.parametrize("as_of", [T, T - timedelta(hours=30, minutes=7)], ids=["at t", "before t"])
async def test_a_backtest_decision_at_or_before_t_sees_no_spike_in_any_timeframe(
    fetcher: BarsFetcher, payloads: PayloadStore, strategy: StrategyDefinition, as_of: datetime
) -> None:
    """Every bar it gets closed by its decision time, and every bar that did is there, up to the last one."""
    fetched = await fetcher.on_execution_requested(decision(strategy, as_of))
    for bar_size, bars in (await every_timeframe(payloads, fetched)).items():
        assert max(bar.high for bar in bars) < SPIKE, bar_size
        last_end = next_start(bar_size, bars[-1].time)
        assert last_end <= as_of < next_start(bar_size, last_end), f"{bar_size}: the last closed bar ends the window"
        assert fetched.backtest is not None


async def test_the_provider_does_return_the_spike_in_the_bar_in_progress_at_t(provider: SpikedProvider) -> None:
    """The test above is no vacuous pass: asked for bars up to t, the provider returns the spiked bar in progress."""
    bars = await provider.bars(INSTRUMENT, BarSize.HOUR_1, "1 D", T)
    assert bars[-1].time < T < next_start(BarSize.HOUR_1, bars[-1].time)
    assert bars[-1].high == SPIKE


async def test_a_live_run_still_reads_the_provider_with_the_bar_in_progress(
    fetcher: BarsFetcher, provider: SpikedProvider, payloads: PayloadStore
) -> None:
    """Live runs are read as before: from the provider, ending at as_of, the bar in progress included."""
    strategy = STRATEGIES["hours and days"]
    fetched = await fetcher.on_execution_requested(decision(strategy, T, backtest=False))
    asked = [(size, end) for size, _, end in provider.bar_requests]
    assert asked == [(BarSize.HOUR_1, T), (BarSize.HOUR_4, T), (BarSize.DAY_1, T)]
    bars = await payloads.bars(fetched.bars)
    assert bars == await provider.bars(INSTRUMENT, BarSize.HOUR_1, strategy.duration, T)
    assert bars[-1].high == SPIKE


async def test_a_second_decision_inside_the_stored_span_asks_the_provider_nothing(
    fetcher: BarsFetcher, provider: SpikedProvider, payloads: PayloadStore
) -> None:
    """Its bars, read from the store, are the provider's own, closed by the decision time."""
    strategy = STRATEGIES["minutes"]
    first = T - timedelta(days=1)
    await fetcher.on_execution_requested(decision(strategy, first))
    assert len(provider.bar_requests) == 4, "one request per timeframe"
    second = first + timedelta(minutes=45, seconds=30)
    fetched = await fetcher.on_execution_requested(decision(strategy, second))
    assert len(provider.bar_requests) == 4, "the second decision's bars all come from the store"

    for bar_size, bars in (await every_timeframe(payloads, fetched)).items():
        duration = strategy.duration if bar_size is strategy.bar_size else TIMEFRAME_HISTORY[bar_size]
        direct = await provider.bars(INSTRUMENT, bar_size, duration, second)
        assert bars == tuple(bar for bar in direct if next_start(bar_size, bar.time) <= second), bar_size


async def test_decisions_starting_in_one_chunk_period_share_their_oldest_chunk(
    fetcher: BarsFetcher, provider: SpikedProvider, payloads: PayloadStore
) -> None:
    """Once the store holds the bars before a window in its oldest chunk's period, that chunk holds the whole period:
    the next decision stores only its newest chunk, and each reads back exactly its own window."""
    strategy = STRATEGIES["minutes"].model_copy(update={"analysis": AnalysisSettings()})
    first = T - timedelta(days=1)
    await fetcher.on_execution_requested(decision(strategy, first))
    day = timedelta(seconds=duration_seconds(strategy.duration))
    period_start = chunk_start(BarSize.MIN_1, first - day + timedelta(hours=3))
    second_as_of = period_start + timedelta(minutes=10, seconds=30) + day
    second = await fetcher.on_execution_requested(decision(strategy, second_as_of))
    third = await fetcher.on_execution_requested(decision(strategy, second_as_of + timedelta(minutes=1)))
    assert len(provider.bar_requests) == 1, "both later windows come from the store"

    assert (second.bars.skip, third.bars.skip) == (11, 12), "the bars of the period before each window"
    assert second.bars.chunks[0] == third.bars.chunks[0]
    assert second.bars.chunks[1:-1] == third.bars.chunks[1:-1]
    for fetched, as_of in ((second, second_as_of), (third, second_as_of + timedelta(minutes=1))):
        direct = await provider.bars(INSTRUMENT, BarSize.MIN_1, strategy.duration, as_of)
        closed = tuple(bar for bar in direct if next_start(BarSize.MIN_1, bar.time) <= as_of)
        assert await payloads.bars(fetched.bars) == closed


async def test_decisions_handled_at_once_ask_the_provider_for_their_span_once(
    fetcher: BarsFetcher, provider: SpikedProvider
) -> None:
    """A step handles a batch of decisions at once (``TRADELANE_STEP_BATCH``): the first to miss fetches."""
    strategy = STRATEGIES["minutes"]
    first = T - timedelta(days=1)
    await asyncio.gather(
        *(fetcher.on_execution_requested(decision(strategy, first + timedelta(minutes=m))) for m in range(0, 40, 5))
    )
    assert len(provider.bar_requests) == 4, "one request per timeframe, whichever decision came first"


async def test_bars_on_request_come_from_the_store_when_it_holds_them_all(
    fetcher: BarsFetcher, provider: SpikedProvider, stored: StoredHistory
) -> None:
    await fetcher.on_execution_requested(decision(STRATEGIES["minutes"], T - timedelta(days=1)))
    asked = len(provider.bar_requests)
    inside = BarsRequest(symbol=INSTRUMENT, bar_size=BarSize.MIN_5, start=T - timedelta(hours=20), end=T)
    reply = await bars_between(provider, inside, stored)
    assert len(provider.bar_requests) == asked
    assert reply.bars
    assert reply == await bars_between(provider, inside), "the same bars the provider gives"

    outside = BarsRequest(
        symbol=INSTRUMENT, bar_size=BarSize.MIN_5, start=T - timedelta(days=20), end=T - timedelta(days=19)
    )
    assert (await bars_between(provider, outside, stored)).bars
    assert len(provider.bar_requests) == asked + 2, "a window the store does not hold goes to the provider"


async def test_a_decision_left_with_no_closed_bar_fails_permanently(fetcher: BarsFetcher) -> None:
    """A day of daily bars at t holds only the bar in progress, which a backtest may not see."""
    strategy = StrategyDefinition(name="one day", symbol=REF, bar_size=BarSize.DAY_1, duration="1 D")
    with pytest.raises(PermanentStepError, match="returned no closed 1 day bars for SPIKE in the 1 D before"):
        await fetcher.on_execution_requested(decision(strategy, T))


def test_a_missed_window_is_fetched_with_the_bars_that_follow_it() -> None:
    duration, end = wider_request(BarSize.MIN_1, T - timedelta(days=1), T, NOW)
    assert (duration, end) == ("3 D", T + timedelta(minutes=AHEAD_BARS))


def test_the_wider_request_never_ends_after_now_nor_before_the_window() -> None:
    assert wider_request(BarSize.DAY_1, T - timedelta(days=365), T, NOW) == ("2 Y", NOW)
    assert wider_request(BarSize.HOUR_1, NOW - timedelta(days=1), NOW + timedelta(hours=5), NOW)[1] == (
        NOW + timedelta(hours=5)
    )


def test_the_wider_request_holds_at_most_max_bars_of_calendar_time() -> None:
    """A window of 4000 minutes leaves room for fewer than 2000 more once IB's whole days are counted."""
    duration, end = wider_request(BarSize.MIN_1, T - timedelta(minutes=4000), T, NOW)
    assert duration_seconds(duration) <= MAX_BARS * 60
    assert T < end < T + timedelta(minutes=AHEAD_BARS)


async def test_without_the_stored_history_a_backtest_decision_is_point_in_time_too(
    provider: SpikedProvider, payloads: PayloadStore
) -> None:
    fetched = await BarsFetcher(provider, payloads).on_execution_requested(decision(STRATEGIES["hours and days"], T))
    for bar_size, bars in (await every_timeframe(payloads, fetched)).items():
        assert max(bar.high for bar in bars) < SPIKE, bar_size
        assert next_start(bar_size, bars[-1].time) <= T, bar_size
    assert [end for _, _, end in provider.bar_requests] == [T, T, T], "the provider, asked up to the decision time"
