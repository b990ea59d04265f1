"""The payload store: bars and indicator series kept once, by content, and carried by reference (claim check).

A step that produces bars or series stores them here and publishes a small reference; a step
that reads them resolves the reference. Everything is named by the sha256 of its bytes, so a
name always means the same content: what was fetched once is kept in a bounded in-process
cache and never fetched again, and storing what is already stored costs nothing.

The bucket's TTL is the streams' replay window (``stream_max_age_days``): a reference older
than that may no longer resolve, which :class:`PayloadMissingError` says in words.

A backtest's consecutive windows share all their chunks but the newest (their oldest too: market-data hands
the bars before each window in its oldest chunk's period over as its ``lead``, so that chunk holds its whole
period), and market-data's stored history hands the shared bars back as the very same ``Bar`` objects. So the
store remembers the name of each chunk it stored by the identity of its bars, and names such a chunk again
without encoding it. That name cannot be wrong: a ``Bar`` is frozen and its values immutable, so the same
objects in the same order always write the same JSON; and the store holds on to the bars of every chunk it
remembers, so no other object can take one of their ids meanwhile. Equal bars that are other objects (which
may write other JSON, a time in another zone or a ``-0.0``) are encoded and named afresh.
"""

from __future__ import annotations

import asyncio
import hashlib
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Final, TypeVar

import numpy as np
from nats.js.errors import NotFoundError, ObjectNotFoundError
from pydantic import TypeAdapter

from tradelane.contracts import subjects
from tradelane.contracts.market import Bar, ObjectRef
from tradelane.contracts.payloads import BarsWindow, chunk_period
from tradelane.contracts.strategy import BarSize
from tradelane.runtime.bus import EventBus
from tradelane.runtime.errors import PermanentStepError
from tradelane.runtime.series_bytes import (
    SERIES_CONTENT_TYPE,
    FloatArray,
    Series,
    SeriesBytesError,
    series_arrays_from_bytes,
    series_bytes,
    series_from_bytes,
)

JSON: Final = "application/json"
DEFAULT_CACHE_BYTES: Final = 64 * 1024 * 1024
DEFAULT_NAMED_CHUNKS: Final = 256
"""Chunks whose names are remembered by the identity of their bars: a window of 720 hourly bars has 12."""

T = TypeVar("T")

_BARS_KIND: Final = "bars"
_SERIES_KIND: Final = "series"
_SERIES_ARRAYS_KIND: Final = "series-arrays"

_BARS: Final = TypeAdapter(tuple[Bar, ...])
_SERIES: Final = TypeAdapter(dict[str, tuple[float | None, ...]])


class PayloadMissingError(PermanentStepError):
    """A reference whose content is not in the payload store (older than its TTL, or never stored)."""


class _Cache:
    """What this process stored or fetched, by name, up to a number of bytes (least recently used goes first)."""

    def __init__(self, max_bytes: int) -> None:
        self._max_bytes = max_bytes
        self._entries: OrderedDict[str, tuple[object, int]] = OrderedDict()
        self._bytes = 0

    def get(self, name: str) -> object | None:
        entry = self._entries.get(name)
        if entry is None:
            return None
        self._entries.move_to_end(name)
        return entry[0]

    def put(self, name: str, value: object, size: int) -> None:
        if name in self._entries or size > self._max_bytes:
            return
        self._entries[name] = (value, size)
        self._bytes += size
        while self._bytes > self._max_bytes:
            _, (_, dropped) = self._entries.popitem(last=False)
            self._bytes -= dropped


class _ChunkNames:
    """The names of chunks stored, by the identity of their bars, for a number of chunks (least recently used goes
    first). Each entry holds its bars, so that their ids stay theirs while it is kept."""

    def __init__(self, max_chunks: int) -> None:
        self._max_chunks = max_chunks
        self._entries: OrderedDict[tuple[int, ...], tuple[tuple[Bar, ...], str]] = OrderedDict()

    def get(self, chunk: tuple[Bar, ...]) -> str | None:
        key = tuple(map(id, chunk))
        entry = self._entries.get(key)
        if entry is None:
            return None
        self._entries.move_to_end(key)
        return entry[1]

    def put(self, chunk: tuple[Bar, ...], name: str) -> None:
        self._entries[tuple(map(id, chunk))] = (chunk, name)
        while len(self._entries) > self._max_chunks:
            self._entries.popitem(last=False)


class PayloadStore:
    """Stores and resolves bars windows and indicator series in the payload bucket of the Object Store."""

    def __init__(
        self, bus: EventBus, *, cache_bytes: int = DEFAULT_CACHE_BYTES, named_chunks: int = DEFAULT_NAMED_CHUNKS
    ) -> None:
        self.bus = bus
        self._cache = _Cache(cache_bytes)
        self._chunk_names = _ChunkNames(named_chunks)

    async def put_bars(
        self, conid: int, bar_size: BarSize, bars: Sequence[Bar], *, lead: Sequence[Bar] = ()
    ) -> BarsWindow:
        """Store ``bars`` (oldest first, at least one) in chunks and return the window that refers to them.

        ``lead`` holds bars before the window (oldest first), when they are at hand: those in the chunk period of
        the window's first bar go into its first chunk, which then holds its whole period and is the same for every
        window starting in that period; the window skips them.
        """
        lead = _in_first_period(bar_size, lead, bars)
        names = await asyncio.gather(*(self._put_chunk(chunk) for chunk in _chunks(bar_size, (*lead, *bars))))
        return _window(conid, bar_size, bars, names, skip=len(lead))

    async def _put_chunk(self, chunk: tuple[Bar, ...]) -> str:
        """Store one chunk of bars, unless these very bars were stored here and still are (then only name it)."""
        name = self._chunk_names.get(chunk)
        if name is None or self._cache.get(f"{_BARS_KIND}:{name}") is None:
            name = await self._put(_BARS_KIND, chunk, _BARS.dump_json(chunk))
            self._chunk_names.put(chunk, name)
        return name

    async def bars(self, window: BarsWindow) -> tuple[Bar, ...]:
        """The bars ``window`` refers to, oldest first."""
        what = _describe(window)
        chunks = await asyncio.gather(
            *(self._get(_BARS_KIND, name, _BARS.validate_json, what) for name in window.chunks)
        )
        bars = tuple(bar for chunk in chunks for bar in chunk)[window.skip :]
        if len(bars) != window.count:
            skipped = f" past the {window.skip} it skips" if window.skip else ""
            msg = f"the {what} hold {len(bars)} bars{skipped}, not the {window.count} the window names"
            raise PayloadMissingError(msg)
        return bars

    async def put_series(self, series: Mapping[str, Sequence[float | None] | FloatArray]) -> ObjectRef:
        """Store indicator series (one per output, aligned with their bars) as float64 bytes
        (:mod:`tradelane.runtime.series_bytes`) and return their reference.

        A sequence says "no value" with None, a float64 array with NaN. The series are not kept in the cache:
        the step that computes them is not the one that reads them.

        Raises ValueError when a value is an infinity, or a NaN in a sequence.
        """
        return await self.bus.put_object(series_bytes(series), SERIES_CONTENT_TYPE, bucket=subjects.PAYLOAD_BUCKET)

    async def series(self, ref: ObjectRef) -> Series:
        """The indicator series ``ref`` refers to: float64 bytes, or JSON when stored before those were."""
        decode = _series_from_bytes if ref.content_type == SERIES_CONTENT_TYPE else _SERIES.validate_json
        return await self._get(_SERIES_KIND, ref.name, decode, "indicator series")

    async def series_arrays(self, ref: ObjectRef) -> dict[str, FloatArray]:
        """The indicator series ``ref`` refers to as read-only float64 arrays, NaN where a series has no value.

        What a reader that computes with the values takes: the float64 bytes are read as they are, where
        :meth:`series` makes a Python float (or None) of each value.
        """
        decode = _series_arrays_from_bytes if ref.content_type == SERIES_CONTENT_TYPE else _series_arrays_from_json
        return await self._get(_SERIES_ARRAYS_KIND, ref.name, decode, "indicator series")

    async def _put(self, kind: str, value: object, data: bytes) -> str:
        name = _name(data)
        if self._cache.get(f"{kind}:{name}") is None:
            await self.bus.put_object(data, JSON, bucket=subjects.PAYLOAD_BUCKET)
            self._cache.put(f"{kind}:{name}", value, len(data))
        return name

    async def _get(self, kind: str, name: str, decode: Callable[[bytes], T], what: str) -> T:
        cached = self._cache.get(f"{kind}:{name}")
        if cached is not None:
            return cached  # type: ignore[return-value]  # stored under this kind by this method or _put
        try:
            data = await self.bus.read_object(subjects.PAYLOAD_BUCKET, name)
        except (ObjectNotFoundError, NotFoundError) as error:
            msg = (
                f"the {what} {name[:12]}… is no longer in the payload store: payloads are kept for the "
                f"streams' replay window (stream_max_age_days), and this one is older or was never stored"
            )
            raise PayloadMissingError(msg) from error
        value = decode(data)
        self._cache.put(f"{kind}:{name}", value, len(data))
        return value


def _series_from_bytes(data: bytes) -> Series:
    try:
        return series_from_bytes(data)
    except SeriesBytesError as error:
        raise _unreadable(error) from error


def _series_arrays_from_bytes(data: bytes) -> dict[str, FloatArray]:
    try:
        return series_arrays_from_bytes(data)
    except SeriesBytesError as error:
        raise _unreadable(error) from error


def _series_arrays_from_json(data: bytes) -> dict[str, FloatArray]:
    arrays = {key: np.array(values, dtype=np.float64) for key, values in _SERIES.validate_json(data).items()}
    for array in arrays.values():
        array.setflags(write=False)  # as those read from float64 bytes: a cached value is shared
    return arrays


def _unreadable(error: SeriesBytesError) -> PermanentStepError:
    return PermanentStepError(f"the indicator series in the payload store are unreadable: {error}")


def bars_window(conid: int, bar_size: BarSize, bars: Sequence[Bar]) -> BarsWindow:
    """The window :meth:`PayloadStore.put_bars` returns for ``bars``, without storing them."""
    return _window(conid, bar_size, bars, [_name(_BARS.dump_json(chunk)) for chunk in _chunks(bar_size, bars)])


def _chunks(bar_size: BarSize, bars: Sequence[Bar]) -> list[tuple[Bar, ...]]:
    """``bars`` (oldest first) in chunks of one chunk period each.

    Each chunk ends where bisection finds the next period: the period never falls as the time grows, so a window
    of 720 hourly bars needs about a hundred periods computed, not one per bar (which took as long as encoding it).
    """
    if not bars:
        msg = "a bars window needs at least one bar"
        raise ValueError(msg)

    def period(bar: Bar) -> int:
        return chunk_period(bar_size, bar.time)

    chunks, start = [], 0
    while start < len(bars):
        end = bisect_right(bars, period(bars[start]), lo=start, key=period)
        chunks.append(tuple(bars[start:end]))
        start = end
    return chunks


def _in_first_period(bar_size: BarSize, lead: Sequence[Bar], bars: Sequence[Bar]) -> Sequence[Bar]:
    """The bars of ``lead`` in the chunk period of the first of ``bars``: those from the period's start on."""
    if not lead or not bars:
        return ()  # no bars at all: _chunks says so
    first = bars[0].time
    if lead[-1].time >= first:
        msg = f"the lead of a bars window ends at {lead[-1].time.isoformat()}, not before its first bar"
        raise ValueError(msg)
    period = chunk_period(bar_size, first)
    return lead[bisect_left(lead, period, key=lambda bar: chunk_period(bar_size, bar.time)) :]


def _window(conid: int, bar_size: BarSize, bars: Sequence[Bar], names: Sequence[str], *, skip: int = 0) -> BarsWindow:
    named = "".join(names) + (f"+{skip}" if skip else "")
    return BarsWindow(
        conid=conid,
        bar_size=bar_size,
        count=len(bars),
        first_bar_time=bars[0].time,
        last_bar=bars[-1],
        sha256=_name(named.encode()),
        chunks=tuple(names),
        skip=skip,
    )


def _name(data: bytes) -> str:
    """What content is stored under: the sha256 of its bytes."""
    return hashlib.sha256(data).hexdigest()


def _describe(window: BarsWindow) -> str:
    return f"{window.bar_size.value} bars of conid {window.conid} from {window.first_bar_time.isoformat()}"
