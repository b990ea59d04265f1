"""``/executions``: the list, live, and one execution's steps, live while it runs.

Both pages follow the lineage over Server-Sent Events (:mod:`.live`); the list keeps its
filters in the stream's query. A step's input and output messages are fetched only when the
operator opens the step, through the same call as ``GET /api/executions/{id}?payloads=true``.
"""

from __future__ import annotations

from typing import Annotated, Any, Final
from urllib.parse import urlencode
from uuid import UUID

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import HTMLResponse, StreamingResponse

from tradelane.gateway.deps import Lineage, Strategies
from tradelane.gateway.routes import executions as api
from tradelane.gateway.routes.strategies import list_strategies
from tradelane.gateway.schemas import ExecutionDetailOut, ExecutionOut
from tradelane.gateway.ui import live
from tradelane.gateway.ui.forms import ALL
from tradelane.gateway.ui.templating import fragment, render
from tradelane.gateway.ui.viewer import SignedIn
from tradelane.store.lineage import ExecutionStatus

router = APIRouter(include_in_schema=False)

LISTED: Final = 50
STATUSES: Final = ("running", "completed", "rejected", "failed")


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


def _detail_context(execution_id: UUID, detail: ExecutionDetailOut | None) -> dict[str, Any]:
    return {"execution_id": execution_id, "execution": detail}


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
    request: Request, execution_id: UUID, viewer: SignedIn, lineage: Lineage, strategies: Strategies
) -> HTMLResponse:
    detail = await _detail(lineage, execution_id)
    names = await _names(strategies)
    return render(
        request,
        "execution.html",
        {"viewer": viewer, "page": "executions", "names": names, **_detail_context(execution_id, detail)},
    )


@router.get("/executions/{execution_id}/stream")
async def execution_stream(request: Request, execution_id: UUID, lineage: Lineage) -> StreamingResponse:
    """The status and steps (event ``execution``) whenever they change, then ``done`` once it has finished."""

    async def progress() -> live.Frame:
        detail = await _detail(lineage, execution_id)
        html = fragment("_execution_live.html", _detail_context(execution_id, detail))
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
