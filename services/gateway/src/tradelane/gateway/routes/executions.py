"""``/api/executions``: recent executions, one execution step by step, and its lineage exported."""

from __future__ import annotations

import csv
import io
import json
from typing import Annotated, Final, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Response

from tradelane.contracts.fields import PG_INT_MAX, Moment
from tradelane.gateway.deps import Lineage
from tradelane.gateway.errors import NOT_FOUND, ensure_valid_window, execution_not_found
from tradelane.gateway.schemas import ExecutionDetailOut, ExecutionOut
from tradelane.store.lineage import ExecutionStatus, ExecutionTrigger

router = APIRouter(prefix="/api/executions", tags=["executions"])


@router.get("", summary="List recent executions")
async def list_executions(
    lineage: Lineage,
    strategy_id: UUID | None = None,
    status: ExecutionStatus | None = None,
    trigger: Annotated[
        ExecutionTrigger | None,
        Query(description="What started it: a run's schedule, manual or replay; manual_order or trading_state."),
    ] = None,
    since: Annotated[Moment | None, Query(description="Only executions started at or after this time.")] = None,
    until: Annotated[Moment | None, Query(description="Only executions started before this time.")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=PG_INT_MAX)] = 0,
) -> list[ExecutionOut]:
    """Most recent first, optionally of one strategy, in one status, of one trigger, started in a time window
    (``since`` must be before ``until``)."""
    ensure_valid_window(since, until)
    summaries = await lineage.executions(
        strategy_id=strategy_id, status=status, trigger=trigger, since=since, until=until, limit=limit, offset=offset
    )
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


EXPORT_COLUMNS: Final = (
    "execution_id",
    "strategy_id",
    "step",
    "status",
    "subject",
    "message_id",
    "stream_sequence",
    "occurred_at",
    "duration_ms",
    "error",
    "input",
    "output",
)
"""One CSV row per step; ``input`` and ``output`` are the step's messages as JSON text."""


def lineage_csv(detail: ExecutionDetailOut) -> str:
    """The steps of ``detail`` (fetched with their payloads) as CSV, in the order they happened."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    for step in detail.steps:
        row = step.model_dump(mode="json")
        row |= {
            "execution_id": str(detail.execution_id),
            "strategy_id": str(detail.strategy_id),
            "input": json.dumps(row["input"], sort_keys=True) if row["input"] is not None else "",
            "output": json.dumps(row["output"], sort_keys=True) if row["output"] is not None else "",
        }
        writer.writerow(["" if row[column] is None else row[column] for column in EXPORT_COLUMNS])
    return buffer.getvalue()


@router.get(
    "/{execution_id}/export",
    summary="Export an execution's lineage",
    response_class=Response,
    responses={
        200: {"content": {"application/json": {}, "text/csv": {}}, "description": "A file to download."},
        **NOT_FOUND,
    },
)
async def export_execution(
    execution_id: UUID,
    lineage: Lineage,
    file_format: Annotated[Literal["json", "csv"], Query(alias="format", description="json or csv.")] = "json",
) -> Response:
    """The execution with every step's input and output message, as a JSON document (the shape of
    ``GET /api/executions/{id}?payloads=true``) or as CSV with one row per step."""
    detail = await get_execution(execution_id, lineage, payloads=True)
    if file_format == "csv":
        body, media_type = lineage_csv(detail), "text/csv; charset=utf-8"
    else:
        body, media_type = detail.model_dump_json(indent=2), "application/json"
    disposition = f'attachment; filename="execution-{execution_id}.{file_format}"'
    return Response(body, media_type=media_type, headers={"Content-Disposition": disposition})
