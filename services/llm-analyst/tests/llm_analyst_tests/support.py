"""Types of the fixtures the conftest provides, for annotating tests, and the chart bytes they carry."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from tradelane.contracts.events import ChartRendered
from tradelane.contracts.strategy import BarSize, StrategyDefinition
from tradelane.llm_analyst.analyst import LlmAnalyst

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
"""Bytes standing in for a chart PNG (the fake server does not decode images)."""


def timeframe_png(bar_size: BarSize) -> bytes:
    """Bytes standing in for the chart PNG of an extra timeframe (each timeframe's differ)."""
    return PNG + bar_size.value.encode()


MakeChart = Callable[..., Awaitable[ChartRendered]]
"""``make_chart(definition=None, *, png=True, bars=None, execution_id=None, timeframe_charts=True)``."""
MakeAnalyst = Callable[..., LlmAnalyst]
"""``make_analyst(*, retry_budget=5.0, max_attempts=3, max_concurrency=4, budget=None)``."""
MakeStrategy = Callable[..., StrategyDefinition]
"""``make_strategy(**analysis_settings)``."""
Reply = Callable[..., str]
"""``valid_reply(**changes)``: a valid answer's JSON with ``changes``."""
