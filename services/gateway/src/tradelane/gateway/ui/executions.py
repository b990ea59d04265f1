"""``/executions``: the list, live, and the lineage viewer of one execution, live while it runs.

Both pages follow the lineage over Server-Sent Events (:mod:`.live`); the list keeps its
filters in the stream's query. The viewer draws the pipeline as a graph (:mod:`.pipeline_graph`),
shows the analysis step's model calls, the signal card and the order → fills → position chain
(:mod:`.trade_chain`); a step's input and output messages are fetched only when the operator opens
the step, through the same call as ``GET /api/executions/{id}?payloads=true``. Replays and their
diff go through the replay routes' own functions; the export links are the API's export route.
"""

from __future__ import annotations

from typing import Annotated, Any, Final
from urllib.parse import urlencode
from uuid import UUID

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, StreamingResponse
from pydantic import ValidationError

from tradelane.contracts.subjects import Step
from tradelane.gateway.book import Book
from tradelane.gateway.deps import Caller, Lineage, State, Strategies
from tradelane.gateway.routes import executions as api
from tradelane.gateway.routes import replay as replays
from tradelane.gateway.routes.strategies import list_strategies
from tradelane.gateway.schemas import ExecutionDetailOut, ExecutionOut
from tradelane.gateway.trade_chain import trade_chain
from tradelane.gateway.ui import live
from tradelane.gateway.ui.forms import ALL, field_errors, form_values
from tradelane.gateway.ui.pipeline_graph import pipeline_graph
from tradelane.gateway.ui.templating import fragment, render
from tradelane.gateway.ui.viewer import SignedIn
from tradelane.store.lineage import ExecutionStatus

router = APIRouter(include_in_schema=False)

LISTED: Final = 50
STATUSES: Final = ("running", "completed", "rejected", "failed")
REPLAY_FIELDS: Final = ("from_step", "prompt_version", "model")
REPLAY_STEPS: Final = tuple(step.value for step in Step)
"""Every pipeline step is offered (the form is drawn while the run may still be going); the API refuses,
with its reason shown on the form, a step the execution never reached."""


async def _names(strategies: Strategies) -> dict[UUID, str]:
    return {strategy.id: strategy.definition.name for strategy in await list_strategies(strategies)}


async def _rows(lineage: Lineage, strategy_id: UUID | None, status: ExecutionStatus | None) -> list[ExecutionOut]:
    return await api.list_executions(lineage, strategy_id=strategy_id, status=status, limit=LISTED, offset=0)


@router.get("/executions")
async def executions_page(
    request: Request,
    viewer: SignedIn,
    lineage: Lineage,
    strategies: Strategies,
    strategy_id: Annotated[UUID | None, ALL] = None,
    status: Annotated[ExecutionStatus | None, ALL] = None,
) -> HTMLResponse:
    filters = {key: str(value) for key, value in {"strategy_id": strategy_id, "status": status}.items() if value}
    return render(
        request,
        "executions.html",
        {
            "viewer": viewer,
            "page": "executions",
            "executions": await _rows(lineage, strategy_id, status),
            "names": await _names(strategies),
            "filters": filters,
            "statuses": STATUSES,
            "stream_url": "/executions/stream" + (f"?{urlencode(filters)}" if filters else ""),
        },
    )


@router.get("/executions/stream")
async def executions_stream(
    request: Request,
    lineage: Lineage,
    strategies: Strategies,
    strategy_id: Annotated[UUID | None, ALL] = None,
    status: Annotated[ExecutionStatus | None, ALL] = None,
) -> StreamingResponse:
    """The list's rows (event ``rows``) whenever they change; it never finishes."""

    async def rows() -> live.Frame:
        context = {"executions": await _rows(lineage, strategy_id, status), "names": await _names(strategies)}
        return live.Frame(fragment("_execution_rows.html", context))

    return live.stream(request, "rows", rows)


async def _detail_context(execution_id: UUID, detail: ExecutionDetailOut | None, book: Book) -> dict[str, Any]:
    """What the live part of the viewer shows: status, graph, steps, and the orders the execution placed."""
    return {
        "execution_id": execution_id,
        "execution": detail,
        "graph": pipeline_graph(detail),
        "chain": await trade_chain(book, execution_id),
    }


async def _detail(lineage: Lineage, execution_id: UUID) -> ExecutionDetailOut | None:
    """The execution with its steps (and their messages, for the chart and signal), or None while the lineage
    has not recorded it yet (it was just requested). Messages are small (payloads travel by reference)."""
    try:
        return await api.get_execution(execution_id, lineage, payloads=True)
    except HTTPException as error:
        if error.status_code == status.HTTP_404_NOT_FOUND:
            return None
        raise


@router.get("/executions/{execution_id}")
async def execution_page(
    request: Request, execution_id: UUID, viewer: SignedIn, lineage: Lineage, strategies: Strategies, book: Book
) -> HTMLResponse:
    detail = await _detail(lineage, execution_id)
    names = await _names(strategies)
    return render(
        request,
        "execution.html",
        {
            "viewer": viewer,
            "page": "executions",
            "names": names,
            "replay_steps": REPLAY_STEPS,
            "replay": {"from_step": Step.ANALYSIS.value},
            **await _detail_context(execution_id, detail, book),
        },
    )


@router.get("/executions/{execution_id}/stream")
async def execution_stream(request: Request, execution_id: UUID, lineage: Lineage, book: Book) -> StreamingResponse:
    """The status, graph and steps (event ``execution``) whenever they change, then ``done`` once it has finished."""

    async def progress() -> live.Frame:
        detail = await _detail(lineage, execution_id)
        html = fragment("_execution_live.html", await _detail_context(execution_id, detail, book))
        return live.Frame(html, finished=detail is not None and detail.status != "running")

    return live.stream(request, "execution", progress)


@router.get("/executions/{execution_id}/steps/{message_id}")
async def step_messages(request: Request, execution_id: UUID, message_id: UUID, lineage: Lineage) -> HTMLResponse:
    """One step's input and output messages in full, as collapsible trees."""
    detail = await api.get_execution(execution_id, lineage, payloads=True)
    step = next((step for step in detail.steps if step.message_id == message_id), None)
    if step is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"execution {execution_id} has no step {message_id}")
    return render(request, "_step_messages.html", {"step": step})


@router.post("/executions/{execution_id}/replay")
async def replay(request: Request, execution_id: UUID, viewer: SignedIn, state: State, caller: Caller) -> HTMLResponse:
    """Replay from the chosen step with the overrides given; the form again with the link to the new execution
    and to its diff, or with the API's refusal next to the field it is about."""
    values = await form_values(request)
    context: dict[str, Any] = {
        "viewer": viewer,
        "execution_id": execution_id,
        "replay_steps": REPLAY_STEPS,
        "replay": values,
    }
    try:
        asked = replays.ReplayRequest.model_validate({name: value for name, value in values.items() if value})
        context["accepted"] = await replays.replay_execution(execution_id, state, caller, asked)
    except (ValidationError, RequestValidationError) as error:
        context["errors"] = field_errors(error.errors(), REPLAY_FIELDS)
    except HTTPException as error:
        context["errors"] = {"": str(error.detail)}
    return render(request, "_replay_form.html", context)


@router.get("/executions/{execution_id}/diff/{other_id}")
async def diff_page(
    request: Request, execution_id: UUID, other_id: UUID, viewer: SignedIn, state: State
) -> HTMLResponse:
    """What changed, step by step, from one execution (the original) to another (its replay)."""
    compared = await replays.diff(execution_id, other_id, state)
    return render(request, "execution_diff.html", {"viewer": viewer, "page": "executions", "diff": compared})
