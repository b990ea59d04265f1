"""``/api/lineage``: how the pipeline's steps fare over time."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter

from tradelane.contracts.envelope import utc_now
from tradelane.contracts.fields import Moment
from tradelane.contracts.subjects import Step
from tradelane.gateway.deps import Lineage
from tradelane.gateway.schemas import StepStatisticsOut

router = APIRouter(prefix="/api/lineage", tags=["lineage"])

DEFAULT_WINDOW = timedelta(hours=24)


@router.get("/steps/{step}/statistics", summary="Statistics of one step")
async def step_statistics(step: Step, lineage: Lineage, since: Moment | None = None) -> StepStatisticsOut:
    """Count, successes, failures, success rate, durations and top errors since ``since`` (default: 24 h ago)."""
    start = since if since is not None else utc_now() - DEFAULT_WINDOW
    stats = await lineage.step_statistics(step.value, start)
    return StepStatisticsOut.of(step, start, stats)
