"""The payload store on a real NATS object store: bars kept once per chunk, series by content, gaps said in words."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest
from nats.js.api import StreamInfo

from tradelane.contracts import subjects
from tradelane.contracts.market import Bar
from tradelane.contracts.payloads import CHUNK_BARS
from tradelane.contracts.strategy import BarSize
from tradelane.runtime.bus import EventBus
from tradelane.runtime.errors import PermanentStepError
from tradelane.runtime.payloads import PayloadMissingError, PayloadStore, bars_window
from tradelane.runtime.series_bytes import SERIES_CONTENT_TYPE

START = datetime(2026, 12, 1, tzinfo=UTC)
"""Midnight UTC: a chunk boundary of 1-minute bars (64-minute periods counted from the epoch)."""


def minute_bars(first: int, count: int) -> tuple[Bar, ...]:
    """``count`` 1-minute bars from minute ``first`` after :data:`START`."""
    return tuple(
        Bar(time=START + timedelta(minutes=minute), open=100, high=101, low=99, close=100 + minute / 100, volume=1)
        for minute in range(first, first + count)
    )


async def stored_objects(bus: EventBus) -> int:
    info: StreamInfo = await bus.jetstream.stream_info(f"OBJ_{subjects.PAYLOAD_BUCKET}")
    assert info.state is not None
    return int(info.state.messages)


async def test_a_window_read_back_by_another_process_is_the_bars_stored(bus: EventBus) -> None:
    bars = minute_bars(0, 300)
    window = await PayloadStore(bus).put_bars(7, BarSize.MIN_1, bars)
    assert (window.count, window.first_bar_time, window.last_bar) == (300, bars[0].time, bars[-1])
    assert window == bars_window(7, BarSize.MIN_1, bars)
    assert await PayloadStore(bus).bars(window) == bars


async def test_a_sliding_window_shares_every_chunk_but_its_edges(bus: EventBus) -> None:
    """Two runs a minute apart store the bars between their windows' first and last chunk once."""
    store = PayloadStore(bus)
    earlier = await store.put_bars(7, BarSize.MIN_1, minute_bars(10, 1440))
    later = await store.put_bars(7, BarSize.MIN_1, minute_bars(11, 1440))
    assert len(earlier.chunks) == len(later.chunks) == 1440 // CHUNK_BARS + 1
    assert earlier.chunks[1:-1] == later.chunks[1:-1]
    assert (earlier.chunks[0], earlier.chunks[-1]) != (later.chunks[0], later.chunks[-1])
    assert earlier.sha256 != later.sha256
    # a fresh store (another process) finds what is stored already: nothing new lands
    before = await stored_objects(bus)
    await PayloadStore(bus).put_bars(7, BarSize.MIN_1, minute_bars(11, 1440))
    assert await stored_objects(bus) == before


async def test_a_window_with_gaps_has_one_chunk_per_chunk_period_it_has_bars_in(bus: EventBus) -> None:
    minutes = [*range(0, 10), *range(64, 70), *range(200, 301), 400]  # none in the third period, 128-191
    bars = tuple(bar for minute in minutes for bar in minute_bars(minute, 1))
    window = await PayloadStore(bus).put_bars(7, BarSize.MIN_1, bars)
    assert len(window.chunks) == len({minute // CHUNK_BARS for minute in minutes}) == 5
    assert await PayloadStore(bus).bars(window) == bars


async def test_series_come_back_as_stored_with_none_where_there_is_no_value(bus: EventBus) -> None:
    series = {"sma_3": (None, None, 101.5, 102.0), "rsi_14": (None, None, None, 55.25)}
    ref = await PayloadStore(bus).put_series(series)
    assert (ref.bucket, ref.content_type) == (subjects.PAYLOAD_BUCKET, SERIES_CONTENT_TYPE)
    assert await PayloadStore(bus).series(ref) == series


async def test_series_given_as_float64_arrays_come_back_with_none_where_they_held_nan(bus: EventBus) -> None:
    ref = await PayloadStore(bus).put_series({"sma_3": np.array([math.nan, 101.5, 102.0])})
    assert await PayloadStore(bus).series(ref) == {"sma_3": (None, 101.5, 102.0)}


async def test_series_read_as_arrays_are_read_only_float64_with_nan_where_there_is_no_value(bus: EventBus) -> None:
    ref = await PayloadStore(bus).put_series({"sma_3": (None, 101.5, 102.0)})
    arrays = await PayloadStore(bus).series_arrays(ref)
    assert list(arrays) == ["sma_3"]
    np.testing.assert_array_equal(arrays["sma_3"], [math.nan, 101.5, 102.0])
    assert not arrays["sma_3"].flags.writeable


async def test_series_stored_as_json_read_as_arrays(bus: EventBus) -> None:
    ref = await bus.put_object(b'{"sma_3":[null,101.5]}', "application/json", bucket=subjects.PAYLOAD_BUCKET)
    arrays = await PayloadStore(bus).series_arrays(ref)
    np.testing.assert_array_equal(arrays["sma_3"], [math.nan, 101.5])
    assert not arrays["sma_3"].flags.writeable


async def test_series_stored_as_json_before_the_float64_layout_still_read(bus: EventBus) -> None:
    series = {"sma_3": (None, 101.5, 102.0)}
    ref = await bus.put_object(b'{"sma_3":[null,101.5,102.0]}', "application/json", bucket=subjects.PAYLOAD_BUCKET)
    assert await PayloadStore(bus).series(ref) == series


async def test_series_bytes_that_do_not_fit_their_layout_fail_the_step_in_words(bus: EventBus) -> None:
    torn = b'{"format":1,"series":[["sma_3",2]]}\n\x00'
    ref = await bus.put_object(torn, SERIES_CONTENT_TYPE, bucket=subjects.PAYLOAD_BUCKET)
    with pytest.raises(PermanentStepError, match=r"series in the payload store are unreadable: .* 1 bytes of values"):
        await PayloadStore(bus).series(ref)


async def test_a_window_whose_chunks_were_never_stored_is_refused_in_words(bus: EventBus) -> None:
    window = bars_window(7, BarSize.MIN_1, minute_bars(0, 10))
    with pytest.raises(PayloadMissingError, match=r"is no longer in the payload store: payloads are kept for"):
        await PayloadStore(bus).bars(window)


async def test_the_cache_holds_no_more_than_its_bytes(bus: EventBus) -> None:
    """A store with room for about one chunk still answers every window (fetching again what it dropped)."""
    store = PayloadStore(bus, cache_bytes=10_000)
    first = await store.put_bars(7, BarSize.MIN_1, minute_bars(0, 3 * CHUNK_BARS))
    assert await store.bars(first) == minute_bars(0, 3 * CHUNK_BARS)


@pytest.mark.parametrize("named_chunks", [256, 2], ids=["every chunk named", "two chunks named"])
async def test_a_window_sliding_over_the_same_bar_objects_is_named_as_a_fresh_one(
    bus: EventBus, named_chunks: int
) -> None:
    """Its chunks named from memory, as market-data's stored history hands the same bars back, or encoded again."""
    store = PayloadStore(bus, cache_bytes=20_000, named_chunks=named_chunks)
    bars = minute_bars(0, 600)
    for first in (0, 1, 2, 63, 64, 65, 200, 130, 131):
        window = await store.put_bars(7, BarSize.MIN_1, bars[first : first + 300])
        assert window == bars_window(7, BarSize.MIN_1, bars[first : first + 300]), first
        assert await PayloadStore(bus).bars(window) == bars[first : first + 300]


async def test_equal_bars_that_write_other_json_get_the_names_of_their_own_json(bus: EventBus) -> None:
    """A bar equal to another (the same time in another zone) may write other bytes: it is named by its own."""
    store = PayloadStore(bus)
    utc = minute_bars(0, 100)
    paris = tuple(bar.model_copy(update={"time": bar.time.astimezone(timezone(timedelta(hours=1)))}) for bar in utc)
    assert paris == utc
    named_in_utc = await store.put_bars(7, BarSize.MIN_1, utc)
    named_in_paris = await store.put_bars(7, BarSize.MIN_1, paris)
    assert named_in_paris == bars_window(7, BarSize.MIN_1, paris)
    assert not set(named_in_paris.chunks) & set(named_in_utc.chunks)


async def test_a_window_with_its_lead_keeps_its_oldest_chunk_whole_and_skips_the_lead(bus: EventBus) -> None:
    """Windows starting in one chunk period share their oldest chunk: it holds the period from its start."""
    store = PayloadStore(bus)
    bars = minute_bars(0, 600)
    windows = {
        first: await store.put_bars(7, BarSize.MIN_1, bars[first : first + 300], lead=bars[:first])
        for first in (10, 11, 63)
    }
    assert {window.chunks[0] for window in windows.values()} == {
        bars_window(7, BarSize.MIN_1, bars[:CHUNK_BARS]).chunks[0]
    }
    assert [window.skip for window in windows.values()] == [10, 11, 63]
    assert len({window.sha256 for window in windows.values()}) == 3
    for first, window in windows.items():
        assert (window.count, window.first_bar_time) == (300, bars[first].time)
        assert await PayloadStore(bus).bars(window) == bars[first : first + 300]


async def test_only_the_lead_in_the_period_of_the_first_bar_is_kept(bus: EventBus) -> None:
    bars = minute_bars(0, 600)
    at_a_period_start = await PayloadStore(bus).put_bars(7, BarSize.MIN_1, bars[64:364], lead=bars[:64])
    assert at_a_period_start == bars_window(7, BarSize.MIN_1, bars[64:364])
    assert at_a_period_start.skip == 0
    two_periods_of_lead = await PayloadStore(bus).put_bars(7, BarSize.MIN_1, bars[70:370], lead=bars[:70])
    assert two_periods_of_lead.skip == 6
    assert await PayloadStore(bus).bars(two_periods_of_lead) == bars[70:370]


async def test_a_lead_that_does_not_end_before_the_window_is_refused(bus: EventBus) -> None:
    bars = minute_bars(0, 100)
    with pytest.raises(ValueError, match=r"the lead of a bars window ends at .*, not before its first bar"):
        await PayloadStore(bus).put_bars(7, BarSize.MIN_1, bars[10:], lead=bars[:11])


async def test_a_window_that_skips_more_or_fewer_bars_than_its_chunks_hold_is_refused_in_words(
    bus: EventBus,
) -> None:
    bars = minute_bars(0, 100)
    window = await PayloadStore(bus).put_bars(7, BarSize.MIN_1, bars[10:], lead=bars[:10])
    with pytest.raises(PayloadMissingError, match=r"hold 88 bars past the 12 it skips, not the 90 the window names"):
        await PayloadStore(bus).bars(window.model_copy(update={"skip": 12}))
