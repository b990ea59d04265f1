"""Step 5: read the chart and indicators of an execution."""

from __future__ import annotations

from tradelane.contracts.events import AnalysisCompleted, ChartRendered
from tradelane.llm_analyst import offline


async def on_chart_rendered(msg: ChartRendered) -> AnalysisCompleted:
    """The offline analyst's reading of the indicators; it is shown no chart, so ``charts`` is empty."""
    return msg.follow(
        AnalysisCompleted,
        strategy=msg.strategy,
        snapshot=msg.snapshot,
        analysis=offline.analyse(msg.snapshot),
        charts=(),
    )
