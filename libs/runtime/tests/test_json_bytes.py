"""Compact JSON bytes: the values JSON can carry read back equal; a NaN or an infinity is refused."""

from __future__ import annotations

import json
import math

import pytest

from tradelane.runtime.json_bytes import compact_json


@pytest.mark.parametrize(
    "value",
    [
        {"sma_20": [None, 1e16, 1e-7, -0.0, 0.1, 1 / 3, 5e-324, 1.7976931348623157e308]},
        {"ints": [0, -(2**63), 2**64, 123456789012345678901234567890], "flags": [True, False, None]},
        {"title": 'AAPL · 1 hour "quoted" \\ é \u2028 \x00 </script>', "empty": [{}, []]},
        {"nested": {"tuple": (1, 2.5, ("three",))}},
    ],
    ids=["floats", "ints-bools-none", "strings", "tuples"],
)
def test_bytes_read_back_as_the_value(value: object) -> None:
    assert json.loads(compact_json(value)) == json.loads(json.dumps(value))


def test_floats_read_back_as_the_same_floats() -> None:
    """Written shortest-roundtrip: every float, the sign of -0.0 included, is the float it was."""
    floats = [1e16, 1e-7, -0.0, 0.1, 2.0**-1074, 187.34000000000003, 9007199254740993.0]
    back = json.loads(compact_json(floats))
    assert [(value, math.copysign(1, value)) for value in back] == [
        (value, math.copysign(1, value)) for value in floats
    ]


def test_bytes_are_compact_utf8_with_keys_in_their_order() -> None:
    assert compact_json({"b": [1, 2.5], "a": "é"}) == '{"b":[1,2.5],"a":"é"}'.encode()


@pytest.mark.parametrize("number", [math.nan, math.inf, -math.inf])
def test_a_float_that_is_not_finite_is_refused(number: float) -> None:
    with pytest.raises(ValueError, match="a NaN or an infinity is not JSON compliant"):
        compact_json({"rsi_14": [None, 55.0, number]})


@pytest.mark.parametrize(
    "value",
    [
        {"NaN": "Infinity", "values": [math.nan]},
        {"title": "<b>RSI 14</b> on NASDAQ: Intel", "values": [1.0, -math.inf]},
    ],
    ids=["strings-naming-it", "capitals-before-it"],
)
def test_a_float_that_is_not_finite_is_refused_beside_strings(value: object) -> None:
    with pytest.raises(ValueError, match="not JSON compliant"):
        compact_json(value)


def test_strings_that_name_nan_or_infinity_are_written() -> None:
    value = {"NaN": ["NaN", "-Infinity", "not a NaN"]}
    assert json.loads(compact_json(value)) == value
