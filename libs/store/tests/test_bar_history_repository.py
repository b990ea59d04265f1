"""Stored bar history in PostgreSQL: bars read back exactly, spans say what is held, providers never mix."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from pydantic import TypeAdapter, ValidationError

from tradelane.contracts.market import Bar
from tradelane.contracts.strategy import BarSize
from tradelane.store.bar_history import BarHistoryRepository, BarSeries

START = datetime(2025, 6, 2, 14, 0, tzinfo=UTC)
_BARS = TypeAdapter(tuple[Bar, ...])
HOURLY = BarSeries(conid=265598, bar_size=BarSize.HOUR_1, what_to_show="TRADES", use_rth=True)
BARS = tuple(
    Bar(time=START + timedelta(hours=i), open=190.1 + i, high=191.37, low=189.9, close=0.1 + 0.2, volume=1e6 / 3)
    for i in range(5)
)


def _hours(count: float) -> datetime:
    return START + timedelta(hours=count)


async def test_stored_bars_read_back_exactly_within_their_window(pool: asyncpg.Pool[Any]) -> None:
    history = BarHistoryRepository(pool, "ib")
    await history.store(HOURLY, BARS, _hours(-1), _hours(5))
    assert await history.bars(HOURLY, _hours(-1), _hours(5)) == BARS
    assert await history.bars(HOURLY, _hours(1), _hours(3)) == BARS[2:4], "after the start, up to the end"


async def test_a_window_is_covered_only_inside_one_stored_span(pool: asyncpg.Pool[Any]) -> None:
    """Two touching spans do not cover a window across them: a bar between them may be in neither."""
    history = BarHistoryRepository(pool, "ib")
    await history.store(HOURLY, BARS[:2], _hours(-1), _hours(2))
    await history.store(HOURLY, BARS[2:], _hours(2), _hours(5))
    assert await history.covers(HOURLY, _hours(-1), _hours(2))
    assert await history.covers(HOURLY, _hours(0.5), _hours(1.5))
    assert not await history.covers(HOURLY, _hours(1), _hours(3))
    await history.store(HOURLY, BARS, _hours(-1), _hours(5))
    assert await history.covers(HOURLY, _hours(1), _hours(3)), "once fetched in one piece"


async def test_another_providers_history_is_not_read(pool: asyncpg.Pool[Any]) -> None:
    await BarHistoryRepository(pool, "simulated").store(HOURLY, BARS, _hours(-1), _hours(5))
    ib = BarHistoryRepository(pool, "ib")
    assert not await ib.covers(HOURLY, _hours(0), _hours(4))
    assert await ib.bars(HOURLY, _hours(-1), _hours(5)) == ()


async def test_bars_read_back_write_the_same_json_as_the_bars_stored(pool: asyncpg.Pool[Any]) -> None:
    """The payload store names a chunk of bars by its JSON, so a bar read back must write the very same bytes."""
    history = BarHistoryRepository(pool, "ib")
    await history.store(HOURLY, BARS, _hours(-1), _hours(5))
    read = await history.bars(HOURLY, _hours(-1), _hours(5))
    assert isinstance(read, tuple)
    assert _BARS.dump_json(read) == _BARS.dump_json(BARS)
    assert {*read} == {*BARS}, "equal and hashable as the bars stored"


async def test_a_stored_row_that_is_not_a_bar_is_refused(pool: asyncpg.Pool[Any]) -> None:
    """Rows are validated as they are read, whoever wrote them."""
    history = BarHistoryRepository(pool, "ib")
    await history.store(HOURLY, BARS, _hours(-1), _hours(5))
    await pool.execute("UPDATE market_data.bar_history SET close = 'NaN' WHERE time = $1", BARS[2].time)
    with pytest.raises(ValidationError, match=r"2\.close\n  Input should be a finite number"):
        await history.bars(HOURLY, _hours(-1), _hours(5))
