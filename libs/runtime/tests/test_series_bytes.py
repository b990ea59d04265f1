"""Indicator series as float64 bytes: every float back bit for bit, None where there was none, bad bytes refused."""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest

from tradelane.runtime.series_bytes import SeriesBytesError, series_bytes, series_from_bytes

EXTREME_FLOATS = (1e16, 1e-7, -0.0, 0.1, 1 / 3, 2.0**-1074, 1.7976931348623157e308, 187.34000000000003)


def _bits(value: float | None) -> int | None:
    return None if value is None else struct.unpack("<q", struct.pack("<d", value))[0]


def test_every_float_comes_back_bit_for_bit_and_none_stays_none() -> None:
    series = {"sma_20": (None, None, *EXTREME_FLOATS), "rsi_14": (None, 55.25, None, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0)}
    back = series_from_bytes(series_bytes(series))
    assert list(back) == ["sma_20", "rsi_14"]
    assert {key: [_bits(value) for value in values] for key, values in back.items()} == {
        key: [_bits(value) for value in values] for key, values in series.items()
    }


def test_the_layout_is_a_json_header_line_then_little_endian_float64_key_by_key() -> None:
    data = series_bytes({"a": (1.0, None), "b": (2.5,)})
    header, _, values = data.partition(b"\n")
    assert header == b'{"format":1,"series":[["a",2],["b",1]]}'
    assert struct.unpack("<3d", values)[0::2] == (1.0, 2.5)
    assert math.isnan(struct.unpack("<3d", values)[1])


def test_the_same_series_give_the_same_bytes_whatever_their_container() -> None:
    assert series_bytes({"a": (1.0, None, 3.0)}) == series_bytes({"a": [1.0, None, 3.0]})
    assert series_bytes({"a": [np.float64(1.0), None]}) == series_bytes({"a": (1.0, None)})


def test_no_series_at_all_and_empty_series_come_back() -> None:
    assert series_from_bytes(series_bytes({})) == {}
    assert series_from_bytes(series_bytes({"a": ()})) == {"a": ()}


@pytest.mark.parametrize("number", [math.nan, math.inf, -math.inf])
def test_a_nan_or_an_infinity_as_a_value_is_refused(number: float) -> None:
    with pytest.raises(ValueError, match=r"series 'macd' holds a NaN or an infinity: a series has None where"):
        series_bytes({"sma_3": (1.0,), "macd": (None, number)})


def test_a_float64_array_says_no_value_with_nan_and_writes_the_bytes_its_sequence_would() -> None:
    array = np.array([math.nan, 101.5, math.nan, 102.0])
    assert series_bytes({"sma_3": array}) == series_bytes({"sma_3": (None, 101.5, None, 102.0)})
    assert series_from_bytes(series_bytes({"sma_3": array})) == {"sma_3": (None, 101.5, None, 102.0)}


@pytest.mark.parametrize("number", [math.inf, -math.inf])
def test_an_infinity_in_a_float64_array_is_refused(number: float) -> None:
    with pytest.raises(ValueError, match=r"series 'macd' holds a NaN or an infinity"):
        series_bytes({"macd": np.array([math.nan, number])})


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", r"do not start with a header of format 1"),
        (b"[1, 2]\n", r"do not start with a header of format 1"),
        (b'{"format":2,"series":[]}\n', r"are of format 2, not 1"),
        (b'{"format":1,"series":[["a",-1],["b",1]]}\n', r"gives a series a negative length"),
        (b'{"format":1,"series":[["a",2]]}\n' + struct.pack("<d", 1.0), r"hold 8 bytes of values, not the 2 float64"),
        (b'{"format":1,"series":[["a",1]]}\n' + struct.pack("<d", 1.0) + b"\x00", r"hold 9 bytes of values"),
    ],
    ids=["empty", "not-a-header", "other-format", "negative-length", "too-few-values", "a-torn-value"],
)
def test_bytes_that_are_not_series_are_refused_in_words(data: bytes, reason: str) -> None:
    with pytest.raises(SeriesBytesError, match=reason):
        series_from_bytes(data)
