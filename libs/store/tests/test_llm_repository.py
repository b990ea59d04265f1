"""Model calls and the response cache in PostgreSQL: usage sums and cache lookups."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest

from tradelane.contracts.strategy import StrategyDefinition, SymbolRef
from tradelane.store.llm import CallRecord, CallStatus, LlmRepository
from tradelane.store.strategies import StrategyRepository

DAY = datetime(2025, 3, 14, 10, 0, tzinfo=UTC)


@pytest.fixture
def llm(pool: asyncpg.Pool[Any]) -> LlmRepository:
    return LlmRepository(pool)


def _call(
    strategy_id: UUID,
    *,
    model: str = "gpt-4o",
    at: datetime = DAY,
    tokens: tuple[int, int] = (1000, 200),
    cost: Decimal | None = Decimal("0.0045"),
    cached: bool = False,
    status: CallStatus = "succeeded",
    execution_id: UUID | None = None,
) -> CallRecord:
    return CallRecord(
        id=uuid4(),
        execution_id=execution_id or uuid4(),
        strategy_id=strategy_id,
        purpose="analysis",
        timeframe="1 day",
        provider="api.openai.com",
        model=model,
        status=status,
        cached=cached,
        tokens_in=tokens[0],
        tokens_out=tokens[1],
        latency_ms=850.0,
        cost=cost,
        error=None,
        record={"prompt": "Analyse AAPL"},
        occurred_at=at,
    )


async def test_usage_sums_tokens_and_cost_per_day_strategy_and_model(
    pool: asyncpg.Pool[Any], llm: LlmRepository
) -> None:
    stored = await StrategyRepository(pool).create(StrategyDefinition(name="aapl", symbol=SymbolRef(symbol="AAPL")))
    other = uuid4()
    for call in (
        _call(stored.id),
        _call(stored.id, tokens=(500, 100), cost=Decimal("0.00225")),
        _call(stored.id, cached=True, tokens=(0, 0), cost=Decimal(0)),
        _call(stored.id, at=DAY - timedelta(days=1)),
        _call(stored.id, model="llava", cost=None),
        _call(other, status="failed", tokens=(0, 0), cost=Decimal(0)),
    ):
        await llm.record_call(call)
    rows = await llm.usage(since=DAY - timedelta(days=7), until=DAY + timedelta(hours=1))
    summary = {(row.day, row.strategy_name, row.model): row for row in rows}
    today = summary[(date(2025, 3, 14), "aapl", "gpt-4o")]
    assert (today.calls, today.cached_calls, today.tokens_in, today.tokens_out) == (3, 1, 1500, 300)
    assert today.cost == Decimal("0.00675")
    assert summary[(date(2025, 3, 13), "aapl", "gpt-4o")].calls == 1
    assert summary[(date(2025, 3, 14), "aapl", "llava")].unpriced_calls == 1
    deleted_strategy = summary[(date(2025, 3, 14), None, "gpt-4o")]
    assert (deleted_strategy.strategy_id, deleted_strategy.failed_calls) == (other, 1)
    assert rows[0].day == date(2025, 3, 14)


async def test_usage_filters_by_strategy_model_and_window(llm: LlmRepository) -> None:
    strategy_id = uuid4()
    await llm.record_call(_call(strategy_id))
    await llm.record_call(_call(uuid4()))
    await llm.record_call(_call(strategy_id, model="llava"))
    await llm.record_call(_call(strategy_id, at=DAY - timedelta(days=40)))
    rows = await llm.usage(
        since=DAY - timedelta(days=1), until=DAY + timedelta(days=1), strategy_id=strategy_id, model="gpt-4o"
    )
    assert [(row.strategy_id, row.model, row.calls) for row in rows] == [(strategy_id, "gpt-4o", 1)]


async def test_recording_a_call_twice_keeps_one_row(llm: LlmRepository) -> None:
    call = _call(uuid4())
    await llm.record_call(call)
    await llm.record_call(call)
    assert await llm.calls(strategy_id=call.strategy_id) == [call]


async def test_calls_of_an_execution_come_in_order(llm: LlmRepository) -> None:
    execution_id = uuid4()
    later = _call(uuid4(), execution_id=execution_id, at=DAY + timedelta(seconds=5))
    earlier = _call(uuid4(), execution_id=execution_id)
    await llm.record_call(later)
    await llm.record_call(earlier)
    await llm.record_call(_call(uuid4()))
    assert [call.id for call in await llm.calls(execution_id=execution_id)] == [earlier.id, later.id]


async def test_a_cached_reply_is_found_by_any_execution_when_asked(llm: LlmRepository) -> None:
    first = uuid4()
    await llm.store_reply(
        "k" * 64, model="gpt-4o", reply='{"bias": "neutral"}', tokens_in=10, tokens_out=5, execution_id=first
    )
    cached = await llm.cached_reply("k" * 64, execution_id=uuid4(), any_execution=True)
    assert cached is not None
    assert (cached.reply, cached.execution_id) == ('{"bias": "neutral"}', first)


async def test_a_cached_reply_is_only_reused_by_its_execution_otherwise(llm: LlmRepository) -> None:
    first = uuid4()
    await llm.store_reply("k" * 64, model="m", reply="{}", tokens_in=1, tokens_out=1, execution_id=first)
    assert await llm.cached_reply("k" * 64, execution_id=uuid4(), any_execution=False) is None
    assert await llm.cached_reply("k" * 64, execution_id=first, any_execution=False) is not None


async def test_the_first_cached_reply_for_a_key_stays(llm: LlmRepository) -> None:
    execution_id = uuid4()
    await llm.store_reply("k" * 64, model="m", reply="first", tokens_in=1, tokens_out=1, execution_id=execution_id)
    await llm.store_reply("k" * 64, model="m", reply="second", tokens_in=1, tokens_out=1, execution_id=execution_id)
    cached = await llm.cached_reply("k" * 64, execution_id=execution_id, any_execution=False)
    assert cached is not None
    assert cached.reply == "first"
