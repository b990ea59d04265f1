"""Candlestick pattern scan with TA-Lib's CDL* functions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache

import numpy as np
import numpy.typing as npt
import talib
from talib import abstract

from tradelane.contracts.market import PatternHit

FloatArray = npt.NDArray[np.float64]

PATTERN_FUNCTIONS: tuple[str, ...] = tuple(
    talib.get_function_groups()["Pattern Recognition"]  # type: ignore[no-untyped-call]  # untyped in TA-Lib
)
"""Every candlestick pattern function TA-Lib has, e.g. ``"CDLENGULFING"``."""


def unknown_patterns(names: Sequence[str]) -> list[str]:
    """The names in ``names`` that are not TA-Lib pattern functions, in the order given."""
    known = set(PATTERN_FUNCTIONS)
    return [name for name in names if name not in known]


@cache
def pattern_lookback(name: str) -> int:
    """Bars TA-Lib needs before ``name`` can report a pattern."""
    return int(abstract.Function(name).lookback)  # type: ignore[attr-defined]  # built at import; absent from the stub


def scan_patterns(
    names: Sequence[str],
    *,
    times: Sequence[datetime],
    open_: FloatArray,
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    lookback: int,
) -> tuple[PatternHit, ...]:
    """Every non-zero output of the named functions on the last ``lookback`` bars.

    Hits are ordered by bar time, then pattern name. ``names`` must be known to TA-Lib.
    """
    first = max(len(times) - lookback, 0)
    hits: list[PatternHit] = []
    for name in names:
        output = np.asarray(getattr(talib, name)(open_, high, low, close))[first:]
        hits.extend(
            PatternHit(pattern=name, time=times[first + offset], strength=int(output[offset]))
            for offset in np.flatnonzero(output).tolist()
        )
    return tuple(sorted(hits, key=lambda hit: (hit.time, hit.pattern)))
