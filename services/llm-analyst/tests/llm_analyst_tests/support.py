"""Types of the fixtures the conftest provides, for annotating tests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from tradelane.contracts.events import ChartRendered
from tradelane.contracts.strategy import StrategyDefinition
from tradelane.llm_analyst.analyst import LlmAnalyst

MakeChart = Callable[..., Awaitable[ChartRendered]]
"""``make_chart(definition=None, *, png=True, bars=None, execution_id=None)``."""
MakeAnalyst = Callable[..., LlmAnalyst]
"""``make_analyst(*, retry_budget=5.0, max_attempts=3, max_concurrency=4)``."""
MakeStrategy = Callable[..., StrategyDefinition]
"""``make_strategy(**analysis_settings)``."""
Reply = Callable[..., str]
"""``valid_reply(**changes)``: a valid answer's JSON with ``changes``."""
