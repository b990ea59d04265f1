"""``/api/executions``: recent executions and one execution step by step."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query

from tradelane.contracts.fields import PG_INT_MAX
from tradelane.gateway.deps import Lineage
from tradelane.gateway.errors import NOT_FOUND, execution_not_found
from tradelane.gateway.schemas import ExecutionDetailOut, ExecutionOut
from tradelane.store.lineage import ExecutionStatus

router = APIRouter(prefix="/api/executions", tags=["executions"])


@router.get("", summary="List recent executions")
async def list_executions(
    lineage: Lineage,
    strategy_id: UUID | None = None,
    status: ExecutionStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=PG_INT_MAX)] = 0,
) -> list[ExecutionOut]:
    """Most recent first, optionally of one strategy and in one status."""
    summaries = await lineage.executions(strategy_id=strategy_id, status=status, limit=limit, offset=offset)
    return [ExecutionOut.of(summary) for summary in summaries]


@router.get("/{execution_id}", summary="Get an execution with its steps", responses=NOT_FOUND)
async def get_execution(
    execution_id: UUID,
    lineage: Lineage,
    payloads: Annotated[
        bool, Query(description="Include each step's input and output messages in full (they can be large).")
    ] = False,
) -> ExecutionDetailOut:
    """Its status and every step with a summary of its output, errors and durations.

    Step messages carry bars, indicator series, prompts and model answers: they come only with
    ``payloads=true``, so that following an execution stays cheap.
    """
    detail = await lineage.execution(execution_id)
    if detail is None:
        raise execution_not_found(execution_id)
    return ExecutionDetailOut.of_detail(detail, payloads=payloads)
