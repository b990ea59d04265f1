"""``/executions``: the list, live, and the lineage viewer of one execution, live while it runs.

Both pages follow the lineage over Server-Sent Events (:mod:`.live`); the list keeps its
filters (strategy, status, trigger, and a window of start times in UTC, from ``datetime-local``
inputs) in the stream's query. The viewer draws the pipeline as a graph (:mod:`.pipeline_graph`),
shows the analysis step's model calls, the signal card and the order → fills → position chain
(:mod:`.trade_chain`). The live part follows the steps in summary; a step's input and output
messages, with the bars and indicator series they refer to (:mod:`tradelane.gateway.references`),
and its charts and model calls are fetched only when the operator opens the step. Replays and their
diff go through the replay routes' own functions; the export links are the API's export route.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Final, get_args
from urllib.parse import urlencode
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, StreamingResponse
from pydantic import AfterValidator, ValidationError

from tradelane.contracts.subjects import Step
from tradelane.gateway.book import Book
from tradelane.gateway.deps import Caller, Lineage, Payloads, State, Strategies
from tradelane.gateway.errors import detail_pruned, ensure_valid_window
from tradelane.gateway.references import resolve
from tradelane.gateway.routes import executions as api
from tradelane.gateway.routes import replay as replays
from tradelane.gateway.routes.strategies import list_strategies
from tradelane.gateway.schemas import ExecutionDetailOut, ExecutionOut
from tradelane.gateway.trade_chain import trade_chain
from tradelane.gateway.ui import live
from tradelane.gateway.ui.forms import ALL, field_errors, form_values
from tradelane.gateway.ui.pipeline_graph import NARROW, pipeline_graph
from tradelane.gateway.ui.templating import fragment, render
from tradelane.gateway.ui.viewer import SignedIn
from tradelane.store.lineage import ExecutionDetail, ExecutionStatus, ExecutionTrigger, StepView
from tradelane.store.lineage_retention import DetailPrunedError

router = APIRouter(include_in_schema=False)

LISTED: Final = 50
STATUSES: Final = get_args(ExecutionStatus)
TRIGGERS: Final = get_args(ExecutionTrigger)
REPLAY_FIELDS: Final = ("from_step", "prompt_version", "model")
REPLAY_STEPS: Final = tuple(step.value for step in Step)
"""Every pipeline step is offered (the form is drawn while the run may still be going); the API refuses,
with its reason shown on the form, a step the execution never reached."""


async def _names(strategies: Strategies) -> dict[UUID, str]:
    return {strategy.id: strategy.definition.name for strategy in await list_strategies(strategies)}


def _utc(value: datetime | None) -> datetime | None:
    """A time from a ``datetime-local`` input, which has no zone (the form says UTC); one with a zone stays as given."""
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


FormTime = Annotated[datetime | None, ALL, AfterValidator(_utc)]


def _form_time(value: datetime) -> str:
    """``value`` as a ``datetime-local`` input shows it: UTC, to the minute unless it has seconds."""
    wall_clock = value.astimezone(UTC).replace(tzinfo=None)
    return wall_clock.isoformat(timespec="minutes" if wall_clock.second == wall_clock.microsecond == 0 else "seconds")


@dataclass(frozen=True)
class ExecutionFilters:
    """The list's filters, as the filter form sends them (an empty field is no filter)."""

    strategy_id: UUID | None = None
    status: ExecutionStatus | None = None
    trigger: ExecutionTrigger | None = None
    since: datetime | None = None
    until: datetime | None = None

    def query(self) -> dict[str, str]:
        """The filters given, as the form spells them: its fields' values and the live stream's query."""
        values = {"strategy_id": self.strategy_id, "status": self.status, "trigger": self.trigger}
        spelled = {name: str(value) for name, value in values.items() if value is not None}
        times = {"since": self.since, "until": self.until}
        return spelled | {name: _form_time(value) for name, value in times.items() if value is not None}


def execution_filters(
    strategy_id: Annotated[UUID | None, ALL] = None,
    status: Annotated[ExecutionStatus | None, ALL] = None,
    trigger: Annotated[ExecutionTrigger | None, ALL] = None,
    since: FormTime = None,
    until: FormTime = None,
) -> ExecutionFilters:
    return ExecutionFilters(strategy_id, status, trigger, since, until)


Filters = Annotated[ExecutionFilters, Depends(execution_filters)]


async def _rows(lineage: Lineage, filters: ExecutionFilters) -> list[ExecutionOut]:
    return await api.list_executions(
        lineage,
        strategy_id=filters.strategy_id,
        status=filters.status,
        trigger=filters.trigger,
        since=filters.since,
        until=filters.until,
        limit=LISTED,
        offset=0,
    )


@router.get("/executions")
async def executions_page(
    request: Request, viewer: SignedIn, lineage: Lineage, strategies: Strategies, filters: Filters
) -> HTMLResponse:
    """The list, newest first, filtered; a time window that ends before it starts is explained above the list."""
    query = filters.query()
    context: dict[str, Any] = {
        "viewer": viewer,
        "page": "executions",
        "names": await _names(strategies),
        "filters": query,
        "statuses": STATUSES,
        "triggers": TRIGGERS,
        "filtered": bool(query),
    }
    try:
        context["executions"] = await _rows(lineage, filters)
    except RequestValidationError:
        window = f"{query['since']} is not before {query['until']}"
        context |= {"executions": [], "problem": f"“from” must be before “to” ({window})"}
    else:
        context["stream_url"] = "/executions/stream" + (f"?{urlencode(query)}" if query else "")
    return render(request, "executions.html", context)


@router.get("/executions/stream")
async def executions_stream(
    request: Request, lineage: Lineage, strategies: Strategies, filters: Filters
) -> StreamingResponse:
    """The list's rows (event ``rows``) whenever they change; it never finishes."""
    ensure_valid_window(filters.since, filters.until)

    async def rows() -> live.Frame:
        context = {
            "executions": await _rows(lineage, filters),
            "names": await _names(strategies),
            "filtered": bool(filters.query()),
        }
        return live.Frame(fragment("_execution_rows.html", context))

    return live.stream(request, "rows", rows)


def _last_step(detail: ExecutionDetail | None, name: str, *, succeeded: bool = False) -> StepView | None:
    """The latest step called ``name`` (that succeeded, if asked), or None."""
    steps = [] if detail is None else detail.steps
    found = [step for step in steps if step.step == name and (not succeeded or step.status == "succeeded")]
    return found[-1] if found else None


async def _detail_context(execution_id: UUID, detail: ExecutionDetail | None, book: Book) -> dict[str, Any]:
    """What the live part of the viewer shows: status, graph, the steps in summary, the outcome and the chart
    (from the signal and chart steps' messages only), and the orders the execution placed. A step's messages
    in full come when the operator opens it (:func:`step_messages`)."""
    summaries = None if detail is None else ExecutionDetailOut.of_detail(detail)
    return {
        "execution_id": execution_id,
        "execution": summaries,
        "signal_step": _last_step(detail, "signal"),
        "chart_step": _last_step(detail, "chart", succeeded=True),
        "graph": pipeline_graph(summaries),
        "narrow_graph": pipeline_graph(summaries, NARROW),
        "chain": await trade_chain(book, execution_id),
    }


@router.get("/executions/{execution_id}")
async def execution_page(
    request: Request, execution_id: UUID, viewer: SignedIn, lineage: Lineage, strategies: Strategies, book: Book
) -> HTMLResponse:
    detail = await lineage.execution(execution_id)
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
        detail = await lineage.execution(execution_id)
        html = fragment("_execution_live.html", await _detail_context(execution_id, detail, book))
        return live.Frame(html, finished=detail is not None and detail.execution.status != "running")

    return live.stream(request, "execution", progress)


@router.get("/executions/{execution_id}/steps/{message_id}")
async def step_messages(
    request: Request, execution_id: UUID, message_id: UUID, lineage: Lineage, store: Payloads, state: State
) -> HTMLResponse:
    """One step's input and output messages in full, as collapsible trees, each with the bars and indicator
    series it refers to; and what the step produced that a person looks at (charts, model calls, signal)."""
    detail = await lineage.execution(execution_id)
    step = next((step for step in detail.steps if step.message_id == message_id), None) if detail else None
    if step is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"execution {execution_id} has no step {message_id}")
    if step.pruned_at is not None:
        pruned = DetailPrunedError(execution_id, f"{step.step} step's messages", step.pruned_at)
        raise detail_pruned(pruned, state.lineage_detail_days)
    output_payloads, input_payloads = await asyncio.gather(resolve(step.output, store), resolve(step.input, store))
    context = {"step": step, "output_payloads": output_payloads, "input_payloads": input_payloads}
    return render(request, "_step_messages.html", context)


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
