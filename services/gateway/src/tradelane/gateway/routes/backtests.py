"""``/api/backtests``: run a strategy over a past period, follow it, stop or resume it, and read its report.

Starting, stopping and resuming are requests to the backtester service over NATS
(``tradelane.backtest.create`` and ``tradelane.backtest.control``), whose reply says what happened;
the list, the progress, the decision log, the result and the report are read from the backtests it
stores in PostgreSQL (:class:`~tradelane.store.backtests.BacktestRepository`). A backtest's decisions
are ordinary executions flagged as a backtest: each one's lineage is at ``GET /api/executions/{id}``.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal
from uuid import UUID

from fastapi import APIRouter, HTTPException, Query, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from tradelane.contracts import subjects
from tradelane.contracts.backtest import (
    MAX_DECISIONS,
    BacktestControl,
    BacktestDecisionRecord,
    BacktestEstimate,
    BacktestReply,
    BacktestRequest,
    BacktestResult,
    BacktestSummary,
)
from tradelane.contracts.envelope import Contract
from tradelane.gateway.deps import Backtests, State
from tradelane.gateway.errors import CONFLICT, NOT_FOUND, strategy_not_found
from tradelane.gateway.requests import ServiceDidNotAnswerError, ask_service
from tradelane.gateway.schemas import ErrorOut
from tradelane.gateway.state import GatewayState
from tradelane.store.backtests import BacktestRepository

router = APIRouter(prefix="/api/backtests", tags=["backtests"])

SERVICE: Final = "backtester"
CREATE_SECONDS: Final = 30.0
"""Planning reads the strategy, the bars' times and the cached answers; the backtester answers before it runs."""
CONTROL_SECONDS: Final = 10.0
REPORT_POLICY: Final = "; ".join(
    [
        "default-src 'none'",
        "img-src data:",
        "style-src 'unsafe-inline'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'none'",
    ]
)
"""The report is one self-contained page without scripts: its styles inline, its images ``data:`` URLs."""
DECISIONS_SHOWN: Final = 1000
"""Decisions ``GET /api/backtests/{id}`` lists unless asked for more (a minute-bar month has tens of thousands)."""
UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    status.HTTP_503_SERVICE_UNAVAILABLE: {
        "model": ErrorOut,
        "description": "The backtester is not running, did not answer in time, or cannot run backtests now.",
    }
}


class BacktestAccepted(BaseModel):
    """A backtest planned: started (202) with its id, or only estimated (200)."""

    backtest_id: UUID | None = Field(description="The new backtest; null when only an estimate was asked.")
    estimate: BacktestEstimate
    status_url: str | None = Field(description="Where its progress is: GET /api/backtests/{id}.")
    report_url: str | None = Field(description="Where its HTML report will be once it has completed.")


class BacktestControlled(BaseModel):
    """The backtester stopped or resumed the backtest."""

    backtest_id: UUID
    outcome: Literal["stopped", "resumed"]
    status_url: str


class BacktestDetailOut(BaseModel):
    """One backtest: where it stands, its decisions as the pipeline answered them, and its result once complete."""

    backtest: BacktestSummary
    decisions: list[BacktestDecisionRecord] = Field(description="In time order, every variant's side by side.")
    decisions_omitted: int = Field(description="Further decisions not listed (raise decisions_limit to see them).")
    result: BacktestResult | None = Field(description="Each variant's metrics, trades and equity; null until complete.")
    report_url: str | None = Field(description="The HTML report; null until complete.")


def backtest_not_found(backtest_id: UUID) -> HTTPException:
    return HTTPException(
        status.HTTP_404_NOT_FOUND, f"no backtest with id {backtest_id}; list the backtests with GET /api/backtests"
    )


def report_url(backtest_id: UUID) -> str:
    return f"/api/backtests/{backtest_id}/report"


async def _ask(state: GatewayState, subject: str, request: Contract, seconds: float) -> BacktestReply:
    """One request to the backtester; a 503 when none runs, or none answers in time."""
    try:
        return await ask_service(state, SERVICE, subject, request, BacktestReply, seconds)
    except ServiceDidNotAnswerError as error:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            f"{error}: it may not be running (tradelane status lists it); a start may still have gone through, "
            "see GET /api/backtests",
        ) from error


def _unexpected(reply: BacktestReply, asked: str) -> HTTPException:
    """The backtester answered with an outcome that does not fit the request (a version mismatch)."""
    return HTTPException(
        status.HTTP_502_BAD_GATEWAY,
        f"the backtester answered {asked} with {reply.outcome!r}: are the gateway and the backtester the same version?",
    )


async def start_backtest(request: BacktestRequest, state: GatewayState) -> BacktestAccepted:
    """Ask the backtester to plan ``request`` and, unless ``estimate_only``, to start it.

    A 404 for an unknown strategy, a 422 (at ``body``) with the backtester's reason for a request it
    refuses, a 503 when it does not run or cannot run one now. The web UI's form calls this too.
    """
    if await state.strategies.get(request.strategy_id) is None:
        raise strategy_not_found(request.strategy_id)
    reply = await _ask(state, subjects.BACKTEST_CREATE, request, CREATE_SECONDS)
    reason = reply.reason or reply.outcome
    match reply.outcome:
        case "created" if reply.backtest_id is not None and reply.estimate is not None:
            return BacktestAccepted(
                backtest_id=reply.backtest_id,
                estimate=reply.estimate,
                status_url=f"/api/backtests/{reply.backtest_id}",
                report_url=report_url(reply.backtest_id),
            )
        case "estimated" if reply.estimate is not None:
            return BacktestAccepted(backtest_id=None, estimate=reply.estimate, status_url=None, report_url=None)
        case "invalid":
            raise RequestValidationError([{"type": "value_error", "loc": ("body",), "msg": reason, "input": None}])
        case "not_found":
            raise HTTPException(status.HTTP_404_NOT_FOUND, reason)
        case "unavailable":
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, reason)
    raise _unexpected(reply, "a create")


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Start a backtest, or estimate one",
    responses={
        status.HTTP_200_OK: {"model": BacktestAccepted, "description": "Only an estimate was asked: nothing runs."},
        **NOT_FOUND,
        **UNAVAILABLE,
    },
)
async def create_backtest(request: BacktestRequest, state: State, response: Response) -> BacktestAccepted:
    """Plan a backtest of a stored strategy over ``[start, end]`` and start it (202), or with
    ``estimate_only`` only say what it would cost (200).

    Each decision (every bar's close with ``cadence: "bar"``, the strategy's cron replayed with
    ``"cron"``, or a cron expression of its own) is an execution through the same services as live,
    flagged as a backtest, which sees only the bars closed by then. ``variants`` overrides the
    strategy's analyst, model or prompt version (one), or compares two on the same decisions (A/B);
    the offline rules analyst runs beside those a model reads, as a baseline. Answers the model already gave
    for the same request are reused at no cost. ``budget_usd`` stops the run when its model cost
    reaches it.

    422 for a request the backtester refuses before anything runs (the reason says why: a period
    without bars, a cadence finer than the bar size, an unknown prompt version or model, a budget
    below the estimate); 404 for an unknown strategy; 503 when the backtester is not running.
    Follow it with ``GET /api/backtests/{id}``.
    """
    accepted = await start_backtest(request, state)
    if accepted.backtest_id is None:
        response.status_code = status.HTTP_200_OK
    return accepted


@router.get("", summary="List backtests")
async def list_backtests(
    backtests: Backtests,
    strategy_id: UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[BacktestSummary]:
    """The newest first, each with its request, estimate, status and progress (decisions done of total, cache
    hits and misses, model cost so far)."""
    return await backtests.summaries(limit=limit, strategy_id=strategy_id)


async def backtest_summary(backtests: BacktestRepository, backtest_id: UUID) -> BacktestSummary:
    summary = await backtests.summary(backtest_id)
    if summary is None:
        raise backtest_not_found(backtest_id)
    return summary


@router.get("/{backtest_id}", summary="Get a backtest with its decisions and result", responses=NOT_FOUND)
async def get_backtest(
    backtest_id: UUID,
    backtests: Backtests,
    decisions_limit: Annotated[
        int, Query(ge=0, le=3 * MAX_DECISIONS, description="Decisions to list, in time order.")
    ] = DECISIONS_SHOWN,
) -> BacktestDetailOut:
    """Where the backtest stands, its decisions (each with its execution, the action, bias and confidence the
    pipeline answered, the rule that rejected it or the error it failed with, its model cost and cache hits),
    and once complete its result (also at ``/report.json``) and the link to its HTML report."""
    summary = await backtest_summary(backtests, backtest_id)
    decisions = await backtests.decisions(backtest_id)
    result = await backtests.result(backtest_id) if summary.has_result else None
    return BacktestDetailOut(
        backtest=summary,
        decisions=decisions[:decisions_limit],
        decisions_omitted=max(0, len(decisions) - decisions_limit),
        result=result,
        report_url=report_url(backtest_id) if summary.has_result else None,
    )


def report_not_ready(summary: BacktestSummary) -> HTTPException:
    progress = summary.progress
    return HTTPException(
        status.HTTP_409_CONFLICT,
        f"backtest {summary.id} has no report yet: it is {summary.status} ({progress.decisions_done} of "
        f"{progress.decisions_total} decisions done); its report is written when it completes",
    )


@router.get(
    "/{backtest_id}/report",
    summary="The backtest's HTML report",
    response_class=Response,
    responses={
        status.HTTP_200_OK: {"content": {"text/html": {}}, "description": "The report, one page without scripts."},
        **NOT_FOUND,
        **CONFLICT,
    },
)
async def backtest_report(backtest_id: UUID, backtests: Backtests) -> HTMLResponse:
    """The self-contained report of a completed backtest (equity and drawdown curves, trades on the price
    chart, the best and worst decisions with their chart and answer), as one HTML page without scripts.

    409 while the backtest has not completed.
    """
    summary = await backtest_summary(backtests, backtest_id)
    html = await backtests.report_html(backtest_id)
    if html is None:
        raise report_not_ready(summary)
    return HTMLResponse(html, headers={"Content-Security-Policy": REPORT_POLICY})


@router.get("/{backtest_id}/report.json", summary="The backtest's result as JSON", responses={**NOT_FOUND, **CONFLICT})
async def backtest_result(backtest_id: UUID, backtests: Backtests) -> BacktestResult:
    """Every variant's metrics, trades and equity curve beside buy-and-hold, and the A/B comparison with its
    bootstrap intervals. 409 while the backtest has not completed."""
    summary = await backtest_summary(backtests, backtest_id)
    result = await backtests.result(backtest_id)
    if result is None:
        raise report_not_ready(summary)
    return result


async def control_backtest(
    backtest_id: UUID, action: Literal["stop", "resume"], backtests: BacktestRepository, state: GatewayState
) -> BacktestControlled:
    """Ask the backtester to stop or resume a backtest; a 409 with its reason when it refuses (the web UI too)."""
    await backtest_summary(backtests, backtest_id)
    reply = await _ask(
        state, subjects.BACKTEST_CONTROL, BacktestControl(backtest_id=backtest_id, action=action), CONTROL_SECONDS
    )
    match reply.outcome:
        case "stopped" | "resumed":
            return BacktestControlled(
                backtest_id=backtest_id, outcome=reply.outcome, status_url=f"/api/backtests/{backtest_id}"
            )
        case "invalid":
            raise HTTPException(status.HTTP_409_CONFLICT, reply.reason or f"the backtest cannot {action} now")
        case "not_found":
            raise backtest_not_found(backtest_id)
        case "unavailable":
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, reply.reason or "the backtester is unavailable")
    raise _unexpected(reply, f"a {action}")


@router.post(
    "/{backtest_id}/stop",
    summary="Stop a backtest",
    responses={**NOT_FOUND, **CONFLICT, **UNAVAILABLE},
)
async def stop_backtest(backtest_id: UUID, backtests: Backtests, state: State) -> BacktestControlled:
    """Stop a running backtest cleanly: decisions already published finish, no new ones start. It can be
    resumed where it stopped. 409 when it is not running."""
    return await control_backtest(backtest_id, "stop", backtests, state)


@router.post(
    "/{backtest_id}/resume",
    summary="Resume a stopped backtest",
    responses={**NOT_FOUND, **CONFLICT, **UNAVAILABLE},
)
async def resume_backtest(backtest_id: UUID, backtests: Backtests, state: State) -> BacktestControlled:
    """Resume a stopped backtest where it stopped: decisions already answered are not run again. 409 when it is
    not stopped."""
    return await control_backtest(backtest_id, "resume", backtests, state)
