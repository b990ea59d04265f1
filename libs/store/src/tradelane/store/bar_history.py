"""Stored price history (schema ``market_data``): closed bars per series, and the spans fetched so far.

A span ``(after, until]`` of a series says that every bar starting after ``after`` and closed by ``until`` is
stored: a window inside one span needs no provider request. Like the symbol cache, a repository is bound to one
provider's name, so the simulated provider's bars never pass for IB's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import asyncpg
from pydantic import TypeAdapter

from tradelane.contracts.market import Bar
from tradelane.contracts.strategy import BarSize, WhatToShow

_BARS: Final = TypeAdapter(tuple[Bar, ...])
_SERIES = "provider = $1 AND conid = $2 AND bar_size = $3 AND what_to_show = $4 AND use_rth = $5"


@dataclass(frozen=True)
class BarSeries:
    """One instrument's bars of one size and price type, within or outside regular trading hours."""

    conid: int
    bar_size: BarSize
    what_to_show: WhatToShow
    use_rth: bool


class BarHistoryRepository:
    """Reads and writes one provider's rows of ``market_data.bar_history`` and ``bar_history_spans``."""

    def __init__(self, pool: asyncpg.Pool[Any], provider: str) -> None:
        self._pool = pool
        self.provider = provider

    def _key(self, series: BarSeries) -> tuple[str, int, str, str, bool]:
        return (self.provider, series.conid, series.bar_size.value, series.what_to_show, series.use_rth)

    async def covers(self, series: BarSeries, after: datetime, until: datetime) -> bool:
        """Whether one stored span holds every bar of ``series`` starting after ``after`` and closed by ``until``."""
        covered: bool = await self._pool.fetchval(
            f"SELECT EXISTS (SELECT 1 FROM market_data.bar_history_spans WHERE {_SERIES}"
            " AND span_start <= $6 AND span_end >= $7)",
            *self._key(series),
            after,
            until,
        )
        return covered

    async def bars(self, series: BarSeries, after: datetime, until: datetime) -> tuple[Bar, ...]:
        """The stored bars of ``series`` that start after ``after`` and at or before ``until``, oldest first."""
        rows = await self._pool.fetch(
            "SELECT time, open, high, low, close, volume FROM market_data.bar_history"
            f" WHERE {_SERIES} AND time > $6 AND time <= $7 ORDER BY time",
            *self._key(series),
            after,
            until,
        )
        # validated in one call: two thirds of the time of building each Bar in turn (and faster than
        # Bar.model_construct, which would not validate at all)
        return _BARS.validate_python(
            [
                {
                    "time": row["time"],
                    "open": row["open"],
                    "high": row["high"],
                    "low": row["low"],
                    "close": row["close"],
                    "volume": row["volume"],
                }
                for row in rows
            ]
        )

    async def store(self, series: BarSeries, bars: Sequence[Bar], after: datetime, until: datetime) -> None:
        """Keep ``bars``, closed ones (a stored bar is never rewritten), and record the span ``(after, until]``
        they fill, in one transaction.

        Spans are kept apart, never merged: bars that start before one span's end and close after it belong to
        neither of two touching spans, so their union could claim a bar that is not stored.
        """
        key = self._key(series)
        async with self._pool.acquire() as connection, connection.transaction():
            await connection.execute(
                "INSERT INTO market_data.bar_history"
                " (provider, conid, bar_size, what_to_show, use_rth, time, open, high, low, close, volume)"
                " SELECT $1, $2, $3, $4, $5, bar.*"
                " FROM unnest($6::timestamptz[], $7::float8[], $8::float8[], $9::float8[], $10::float8[],"
                "  $11::float8[]) AS bar"
                " ON CONFLICT DO NOTHING",
                *key,
                [bar.time for bar in bars],
                [bar.open for bar in bars],
                [bar.high for bar in bars],
                [bar.low for bar in bars],
                [bar.close for bar in bars],
                [bar.volume for bar in bars],
            )
            await connection.execute(
                "INSERT INTO market_data.bar_history_spans"
                " (provider, conid, bar_size, what_to_show, use_rth, span_start, span_end)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7)"
                " ON CONFLICT (provider, conid, bar_size, what_to_show, use_rth, span_start) DO UPDATE"
                " SET span_end = GREATEST(market_data.bar_history_spans.span_end, EXCLUDED.span_end),"
                "  fetched_at = EXCLUDED.fetched_at",
                *key,
                after,
                until,
            )
