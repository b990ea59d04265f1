"""``/api/executions``: recent executions, one execution step by step, a step's messages with the payloads they
refer to, and its lineage exported."""

from __future__ import annotations

import csv
import io
import json
from typing import Annotated, Final, Literal
from uuid import UUID

from fastapi import APIRouter, HTTPException, Path, Query, Response, status

from tradelane.contracts.fields import PG_INT_MAX, Moment
from tradelane.gateway.deps import Lineage, Payloads, State
from tradelane.gateway.errors import GONE, NOT_FOUND, detail_pruned, ensure_valid_window, execution_not_found
from tradelane.gateway.references import resolve
from tradelane.gateway.schemas import ExecutionDetailOut, ExecutionOut, StepMessageOut
from tradelane.runtime.payloads import PayloadStore
from tradelane.store.lineage import (
    ExecutionDetail,
    ExecutionStatus,
    ExecutionTrigger,
    LineageRepository,
    StepView,
)
from tradelane.store.lineage_retention import DetailPrunedError

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

    Step messages carry prompts and model answers, and references to bars and indicator series:
    they come only with ``payloads=true``, so that following an execution stays cheap, or one at a
    time with what they refer to resolved from ``/steps/{step}/input`` and ``/steps/{step}/output``.
    """
    detail = await lineage.execution(execution_id)
    if detail is None:
        raise execution_not_found(execution_id)
    return ExecutionDetailOut.of_detail(detail, payloads=payloads)


StepName = Annotated[
    str, Path(description="The step's name as in the execution's steps: market_data, indicators, chart, ...")
]
StepMessageId = Annotated[
    UUID | None,
    Query(
        description="Which of the execution's steps of that name (its message_id in the execution's steps), "
        "for a step that ran more than once (a retried step, the broker's events); without it, the first by "
        "occurrence."
    ),
]


def recorded_step(detail: ExecutionDetail, step: str, message_id: UUID | None) -> StepView:
    """The first step called ``step`` (the one with ``message_id`` if given), or a 404 that says what there is."""

    def wanted(view: StepView) -> bool:
        return view.step == step and (message_id is None or view.message_id == message_id)

    found = next(filter(wanted, detail.steps), None)
    if found is None:
        execution_id = detail.execution.execution_id
        which = f"{step!r} step with message_id {message_id}" if message_id else f"step {step!r}"
        names = ", ".join(dict.fromkeys(view.step for view in detail.steps))
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"execution {execution_id} has no {which}; its steps are: {names}"
        )
    return found


async def step_message(
    execution_id: UUID,
    step: str,
    message_id: UUID | None,
    which: Literal["input", "output"],
    lineage: LineageRepository,
    store: PayloadStore,
    detail_days: float,
) -> StepMessageOut:
    """A step's input or output message as recorded, with the payloads it refers to resolved; 410 once pruned."""
    detail = await lineage.execution(execution_id)
    if detail is None:
        raise execution_not_found(execution_id)
    view = recorded_step(detail, step, message_id)
    message = view.output if which == "output" else view.input
    pruned_at = view.pruned_at if which == "output" else view.input_pruned_at
    if pruned_at is not None:
        raise detail_pruned(
            DetailPrunedError(execution_id, f"{which} message of the {step} step", pruned_at), detail_days
        )
    if message is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"the {step} step of execution {execution_id} has no recorded input: "
            "it is the first step, or the message it consumed was not recorded",
        )
    return StepMessageOut(
        execution_id=execution_id,
        step=view.step,
        message_id=view.message_id,
        subject=view.subject,
        message=message,
        payloads=await resolve(message, store),
    )


@router.get("/{execution_id}/steps/{step}/input", summary="Get a step's input message", responses=NOT_FOUND | GONE)
async def get_step_input(
    execution_id: UUID,
    step: StepName,
    lineage: Lineage,
    store: Payloads,
    state: State,
    message_id: StepMessageId = None,
) -> StepMessageOut:
    """The message the step consumed (``step`` as named in the execution's steps, e.g. ``indicators``), as
    recorded, with the bars and indicator series it refers to resolved. Of several steps of that name, the
    first by occurrence unless ``message_id`` picks one. 404 for the first step, which consumed none; 410 once
    the lineage pruned the message (``TRADELANE_LINEAGE_DETAIL_DAYS``)."""
    return await step_message(execution_id, step, message_id, "input", lineage, store, state.lineage_detail_days)


@router.get("/{execution_id}/steps/{step}/output", summary="Get a step's output message", responses=NOT_FOUND | GONE)
async def get_step_output(
    execution_id: UUID,
    step: StepName,
    lineage: Lineage,
    store: Payloads,
    state: State,
    message_id: StepMessageId = None,
) -> StepMessageOut:
    """The message the step published (``step`` as named in the execution's steps, e.g. ``market_data``), as
    recorded, with the bars and indicator series it refers to resolved. Of several steps of that name, the
    first by occurrence unless ``message_id`` picks one. 410 once the lineage pruned the message
    (``TRADELANE_LINEAGE_DETAIL_DAYS``)."""
    return await step_message(execution_id, step, message_id, "output", lineage, store, state.lineage_detail_days)


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
