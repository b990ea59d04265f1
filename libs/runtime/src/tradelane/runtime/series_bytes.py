"""Indicator series as bytes: a JSON header naming each series and its length, then every value as a float64.

An execution's series are the largest thing it stores: 15 series of a 720-bar window are about
160 KB as JSON (a float written shortest-roundtrip takes up to 24 characters), and every one of
those bytes is written to JetStream, read back by the charts step, encoded and parsed once each.
As little-endian float64 they are about 86 KB, and encoding or parsing them is a copy: no value
is formatted or read as text.

The layout, version 1::

    {"format":1,"series":[["sma_20",720],["rsi_14",720]]}\\n<720 float64><720 float64>

The header is compact JSON on one line; the values follow it key by key, in the header's order.
A value that is not there (None in a series) is a NaN; a series never holds a NaN or an
infinity as a value (:func:`series_bytes` refuses them), so a NaN read back always means None.
Nothing is rounded: each float comes back bit for bit.

Series stored before this format are JSON (``application/json``); :mod:`tradelane.runtime.payloads`
reads each by the content type its reference names.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Final

import numpy as np
import numpy.typing as npt

from tradelane.runtime.json_bytes import compact_json

SERIES_CONTENT_TYPE: Final = "application/vnd.tradelane.series.v1"
_FORMAT: Final = 1
_VALUE: Final = np.dtype("<f8")

Series = dict[str, tuple[float | None, ...]]
FloatArray = npt.NDArray[np.float64]


class SeriesBytesError(ValueError):
    """Bytes that are not series of this layout: a header that does not parse, or values that do not fit it."""


def series_bytes(series: Mapping[str, Sequence[float | None] | FloatArray]) -> bytes:
    """``series`` in the layout above, keys in their order: the same series give the same bytes.

    A sequence says "no value" with None; a float64 array (as the indicators step computes them) with NaN,
    the layout's own way, so its values are written as they are.

    Raises ValueError when a value is an infinity, or a NaN in a sequence: a sequence has None where it has no value.
    """
    header = {"format": _FORMAT, "series": [[key, len(values)] for key, values in series.items()]}
    parts = [compact_json(header), b"\n"]
    for key, values in series.items():
        # numpy reads None as NaN; in a sequence, a NaN more than the Nones was a value
        array = np.asarray(values, dtype=_VALUE)
        nan_was_a_value = not isinstance(values, np.ndarray) and int(np.isnan(array).sum()) != _nones(values)
        if nan_was_a_value or np.isinf(array).any():
            msg = f"series {key!r} holds a NaN or an infinity: a series has None where it has no value"
            raise ValueError(msg)
        parts.append(array.tobytes())
    return b"".join(parts)


def series_from_bytes(data: bytes) -> Series:
    """The series ``data`` holds, None where a value is NaN.

    Raises SeriesBytesError when ``data`` is not in this layout.
    """
    return {key: with_none(values) for key, values in series_arrays_from_bytes(data).items()}


def series_arrays_from_bytes(data: bytes) -> dict[str, FloatArray]:
    """The series ``data`` holds as read-only float64 arrays over its bytes (no value is copied), NaN where a
    series has no value.

    Raises SeriesBytesError when ``data`` is not in this layout.
    """
    end = data.find(b"\n")
    layout = _layout(data[:end] if end != -1 else b"")
    body = memoryview(data)[end + 1 :]
    expected = sum(length for _, length in layout)
    if len(body) != expected * _VALUE.itemsize:
        msg = f"the series bytes hold {len(body)} bytes of values, not the {expected} float64 values of their header"
        raise SeriesBytesError(msg)
    values = np.frombuffer(body, dtype=_VALUE)  # read-only: bytes cannot be written
    found: dict[str, FloatArray] = {}
    start = 0
    for key, length in layout:
        found[key] = values[start : start + length]
        start += length
    return found


def _layout(header: bytes) -> list[tuple[str, int]]:
    """Each series' key and length, from the header line."""
    try:
        parsed = json.loads(header)
        version, series = parsed["format"], parsed["series"]
        layout = [(str(key), int(length)) for key, length in series]
    except (ValueError, TypeError, KeyError) as error:
        msg = f"the series bytes do not start with a header of format {_FORMAT}: {error!r}"
        raise SeriesBytesError(msg) from error
    if version != _FORMAT:
        msg = f"the series bytes are of format {version!r}, not {_FORMAT}"
        raise SeriesBytesError(msg)
    if any(length < 0 for _, length in layout):
        msg = f"the series bytes' header gives a series a negative length: {layout}"
        raise SeriesBytesError(msg)
    return layout


def _nones(values: Sequence[float | None]) -> int:
    counted = values.count(None) if isinstance(values, tuple | list) else sum(value is None for value in values)
    return int(counted)


def with_none(values: FloatArray) -> tuple[float | None, ...]:
    """A float64 series as contracts carry it: Python floats, None where a value is NaN (no value)."""
    converted: list[float | None] = values.tolist()
    for index in np.flatnonzero(np.isnan(values)).tolist():
        converted[index] = None
    return tuple(converted)
