"""``/backtests``: the backtests with their progress, a form that estimates one then starts it, and each one's page.

Every action calls the REST route's own function (:mod:`tradelane.gateway.routes.backtests`), so
the checks and the answers are the API's: the form is read into a
:class:`~tradelane.contracts.backtest.BacktestRequest`, first with ``estimate_only`` (the estimate
is shown with a button to start), then as is. A refused form comes back with each error next to
its field, or above the form for the backtester's own reasons.

A backtest's page polls its progress fragment every two seconds while it runs (htmx
``hx-trigger="every 2s"``, no script of ours); once it has ended the fragment asks htmx to reload
the page (``HX-Refresh``), which then shows the metrics and the decision log as they ended.
"""

from __future__ import annotations

import re
from datetime import UTC, timedelta
from typing import Any, Final, Literal
from uuid import UUID

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from tradelane.contracts.backtest import (
    BAR_CADENCE,
    CRON_CADENCE,
    HOURLY_CADENCE,
    BacktestRequest,
    BacktestSummary,
    SimulationCosts,
    VariantOverrides,
    default_cadence,
)
from tradelane.contracts.backtest_display import (
    COMPARED_FIELDS,
    cadence_text,
    compared_labels,
    compared_variants,
    comparison_table,
    metrics_table,
    seconds_left,
)
from tradelane.contracts.envelope import utc_now
from tradelane.contracts.fields import plain
from tradelane.contracts.strategy import StrategyDefinition
from tradelane.gateway.deps import Backtests, State, Strategies
from tradelane.gateway.routes import backtests as api
from tradelane.gateway.routes.strategies import list_strategies
from tradelane.gateway.ui.forms import FORM_LEVEL, field_errors, form_values
from tradelane.gateway.ui.templating import render
from tradelane.gateway.ui.viewer import SignedIn, Viewer

router = APIRouter(include_in_schema=False)

LISTED: Final = 50
DECISIONS_SHOWN: Final = 500
"""Decisions a backtest's page lists; the API lists them all."""
DEFAULT_DAYS: Final = 30
"""The period the form suggests: the month before today."""
CUSTOM_CADENCE: Final = "custom"
CADENCES: Final = (
    ("", "the default for its bar size (every bar's close; every hour for bars under an hour)"),
    (BAR_CADENCE, "every bar's close"),
    (HOURLY_CADENCE, "every hour, on the hour"),
    (CRON_CADENCE, "the strategy's cron"),
    (CUSTOM_CADENCE, "a custom cron"),
)
"""The cadences offered; the first ("") is the strategy's :func:`~tradelane.contracts.backtest.default_cadence`,
known once the strategy is."""
ANALYSTS: Final = (("", "the strategy's"), ("offline", "offline rules"), ("llm", "LLM"), ("auto", "auto"))
COMPARISONS: Final = (("", "no comparison"), *((name, name.replace("_", " ")) for name in COMPARED_FIELDS))
OVERRIDES: Final = ("analyst", "model", "prompt_version")
FIELDS: Final = (
    "strategy_id",
    "name",
    "start",
    "end",
    "cadence",
    "cadence_cron",
    *OVERRIDES,
    "compare",
    "compare_values",
    "budget_usd",
    "costs.commission_rate",
    "costs.slippage_bps",
)
"""The form's inputs, named by their path in the request body where they have one."""
LIVE: Final = frozenset({"running", "stopping"})
_DATE: Final = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class FormRefusedError(Exception):
    """The form cannot become a request; ``errors`` says why, by field."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(errors)
        self.errors = errors


def _moment(text: str) -> str:
    """A date input's value as the midnight (UTC) that starts the day; anything else as typed, for the model."""
    return f"{text}T00:00:00Z" if _DATE.match(text) else text


def _cadence(values: dict[str, str]) -> str:
    chosen = values.get("cadence") or CRON_CADENCE  # still "" only for a strategy not stored, which the API refuses
    if chosen != CUSTOM_CADENCE:
        return chosen
    expression = values.get("cadence_cron", "")
    if not expression:
        raise FormRefusedError({"cadence_cron": "give a cron expression (e.g. 30 15 * * 1-5), or pick another cadence"})
    return expression


def _variants(values: dict[str, str]) -> tuple[VariantOverrides, ...]:
    """The variants the form asks for: none, the strategy with its overrides, or an A/B comparison of two."""
    try:
        base = VariantOverrides.model_validate({name: values[name] for name in OVERRIDES if values.get(name)})
    except ValidationError as error:
        raise FormRefusedError(field_errors(error.errors(), OVERRIDES)) from error
    if not values.get("compare"):
        return (base,) if base.model_dump(exclude_none=True) else ()
    try:
        return compared_variants(f"{values['compare']}={values.get('compare_values', '')}", base)
    except ValidationError as error:
        raise FormRefusedError({"compare_values": "; ".join(str(e["msg"]) for e in error.errors())}) from error
    except ValueError as error:
        raise FormRefusedError({"compare_values": str(error)}) from error


def request_of(values: dict[str, str], *, estimate_only: bool) -> BacktestRequest:
    """The request the form stands for; :class:`FormRefusedError` with the errors by field."""
    if not values.get("strategy_id"):
        raise FormRefusedError({"strategy_id": "choose the strategy to backtest"})
    body: dict[str, Any] = {
        "strategy_id": values.get("strategy_id", ""),
        "start": _moment(values.get("start", "")),
        "end": _moment(values.get("end", "")),
        "cadence": _cadence(values),
        "variants": _variants(values),
        "estimate_only": estimate_only,
        "costs": {
            key: values[f"costs.{key}"] for key in ("commission_rate", "slippage_bps") if values.get(f"costs.{key}")
        },
    }
    for optional in ("name", "budget_usd"):
        if values.get(optional):
            body[optional] = values[optional]
    try:
        return BacktestRequest.model_validate(body)
    except ValidationError as error:
        placed = field_errors([e for e in error.errors() if e["loc"]], FIELDS)
        whole = [str(e["msg"]).removeprefix("Value error, ") for e in error.errors() if not e["loc"]]
        if whole:
            placed[FORM_LEVEL] = "; ".join(whole)
        raise FormRefusedError(placed) from error


def _refusal(error: HTTPException | RequestValidationError) -> dict[str, str]:
    """The API's refusal, above the form (the backtester's reasons are about the request as a whole)."""
    if isinstance(error, RequestValidationError):
        return {FORM_LEVEL: "; ".join(str(e["msg"]) for e in error.errors())}
    return {FORM_LEVEL: str(error.detail)}


async def _definition(strategies: Strategies, strategy_id: str) -> StrategyDefinition | None:
    """The strategy the form names, None when it names none that is stored."""
    try:
        stored = await strategies.get(UUID(strategy_id))
    except ValueError:
        return None
    return stored.definition if stored else None


def new_values(strategy_id: str = "", strategy: StrategyDefinition | None = None) -> dict[str, str]:
    """The form as first shown: the month before today, the default cadence (the chosen strategy's, when one is),
    the simulated venue's default costs."""
    today = utc_now().date()
    costs = SimulationCosts()
    return {
        "strategy_id": strategy_id,
        "start": (today - timedelta(days=DEFAULT_DAYS)).isoformat(),
        "end": today.isoformat(),
        "cadence": default_cadence(strategy) if strategy else "",
        "costs.commission_rate": plain(costs.commission_rate),
        "costs.slippage_bps": plain(costs.slippage_bps),
    }


async def _form_context(strategies: Strategies, viewer: Viewer, values: dict[str, str], **extra: Any) -> dict[str, Any]:
    listed = await list_strategies(strategies)
    return {
        "viewer": viewer,
        "values": values,
        "errors": {},
        "strategy_options": [("", "choose a strategy"), *((str(s.id), s.definition.name) for s in listed)],
        "cadences": CADENCES,
        "analysts": ANALYSTS,
        "comparisons": COMPARISONS,
        "period": period,
        "cadence_text": cadence_text,
        **extra,
    }


@router.get("/backtests")
async def backtests_page(
    request: Request, viewer: SignedIn, backtests: Backtests, strategies: Strategies, strategy_id: str = ""
) -> HTMLResponse:
    """The backtests, newest first, and (``operate``) the form, its strategy chosen when ``strategy_id`` is given."""
    listed = await api.list_backtests(backtests, strategy_id=None, limit=LISTED)
    values = new_values(strategy_id, await _definition(strategies, strategy_id))
    context = await _form_context(strategies, viewer, values)
    return render(request, "backtests.html", {"page": "backtests", "backtests": listed, **context})


async def _submitted(
    request: Request, viewer: Viewer, strategies: Strategies, state: State, *, estimate_only: bool
) -> tuple[api.BacktestAccepted | None, dict[str, Any]]:
    """What the API answered the form (None when refused) and the form's context, with the errors if any."""
    values = await form_values(request)
    context = await _form_context(strategies, viewer, values)
    asked = values
    if not values.get("cadence") and (strategy := await _definition(strategies, values.get("strategy_id", ""))):
        asked = {**values, "cadence": default_cadence(strategy)}
    try:
        accepted = await api.start_backtest(request_of(asked, estimate_only=estimate_only), state)
    except FormRefusedError as error:
        context["errors"] = error.errors
        return None, context
    except (HTTPException, RequestValidationError) as error:
        context["errors"] = _refusal(error)
        return None, context
    return accepted, context


@router.post("/backtests/estimate")
async def estimate(request: Request, viewer: SignedIn, strategies: Strategies, state: State) -> HTMLResponse:
    """The form again with the estimate and a button to start, or with the errors."""
    accepted, context = await _submitted(request, viewer, strategies, state, estimate_only=True)
    return render(request, "_backtest_form.html", {**context, "estimate": accepted.estimate if accepted else None})


@router.post("/backtests")
async def start(request: Request, viewer: SignedIn, strategies: Strategies, state: State) -> Response:
    """Start the backtest, then take the browser to its page (``HX-Redirect``); the form with the errors if refused."""
    accepted, context = await _submitted(request, viewer, strategies, state, estimate_only=False)
    if accepted is None or accepted.backtest_id is None:
        return render(request, "_backtest_form.html", context)
    return Response(headers={"HX-Redirect": f"/backtests/{accepted.backtest_id}"})


def _watched_from(watched: str) -> tuple[float, int] | None:
    """``watched`` as the progress fragment carries it (``<unix time>:<decisions finished then>``); None if not."""
    since, _, finished = watched.partition(":")
    try:
        return float(since), int(finished)
    except ValueError:
        return None


def _progress_context(
    viewer: Viewer,
    summary: BacktestSummary,
    shown: str | None = None,
    message: str = "",
    *,
    failed: bool = False,
    watched: str = "",
) -> dict[str, Any]:
    """The progress fragment's values. The time left is the pace seen since the page started watching
    (``watched``, carried from poll to poll in the fragment's URL; now when it has none), as the CLI's is."""
    progress = summary.progress
    finished = progress.decisions_done + progress.decisions_failed
    now = utc_now().timestamp()
    since = _watched_from(watched) or (now, finished)
    return {
        "viewer": viewer,
        "backtest": summary,
        "live": summary.status in LIVE,
        "shown": shown or summary.status,
        "watched": f"{since[0]:.3f}:{since[1]}",
        "seconds_left": seconds_left(progress.decisions_total, finished, since, now),
        "message": message,
        "failed": failed,
        "period": period,
        "cadence_text": cadence_text,
    }


@router.get("/backtests/{backtest_id}")
async def backtest_page(request: Request, backtest_id: UUID, viewer: SignedIn, backtests: Backtests) -> HTMLResponse:
    """Its request, estimate and progress (refreshing while it runs), stop or resume, the metrics once complete
    and the decision log."""
    detail = await api.get_backtest(backtest_id, backtests, decisions_limit=DECISIONS_SHOWN)
    context: dict[str, Any] = {
        "page": "backtests",
        **_progress_context(viewer, detail.backtest),
        "decisions": detail.decisions,
        "decisions_omitted": detail.decisions_omitted,
    }
    if detail.result is not None:
        context["metrics"] = metrics_table(detail.result)
        labels = compared_labels(detail.result)
        if labels is not None:
            context["comparison"] = comparison_table(detail.result.comparison, *labels)
    return render(request, "backtest.html", context)


@router.get("/backtests/{backtest_id}/progress")
async def progress(
    request: Request, backtest_id: UUID, viewer: SignedIn, backtests: Backtests, shown: str = "", watched: str = ""
) -> HTMLResponse:
    """The progress fragment; once the status differs from the one the page was drawn with (``shown``) and the
    run has ended, htmx is asked to reload the page, which then shows how it ended."""
    summary = await api.backtest_summary(backtests, backtest_id)
    response = render(request, "_backtest_progress.html", _progress_context(viewer, summary, shown, watched=watched))
    if shown and summary.status != shown and summary.status not in LIVE:
        response.headers["HX-Refresh"] = "true"
    return response


async def _control(
    request: Request,
    backtest_id: UUID,
    action: Literal["stop", "resume"],
    viewer: Viewer,
    backtests: Backtests,
    state: State,
) -> HTMLResponse:
    try:
        done = await api.control_backtest(backtest_id, action, backtests, state)
        message, failed = f"Backtest {done.outcome}.", False
    except HTTPException as error:
        message, failed = str(error.detail), True
    summary = await api.backtest_summary(backtests, backtest_id)
    context = _progress_context(viewer, summary, message=message, failed=failed)
    return render(request, "_backtest_progress.html", context)


@router.post("/backtests/{backtest_id}/stop")
async def stop(
    request: Request, backtest_id: UUID, viewer: SignedIn, backtests: Backtests, state: State
) -> HTMLResponse:
    """Stop it (it can be resumed); the progress fragment with what the backtester answered."""
    return await _control(request, backtest_id, "stop", viewer, backtests, state)


@router.post("/backtests/{backtest_id}/resume")
async def resume(
    request: Request, backtest_id: UUID, viewer: SignedIn, backtests: Backtests, state: State
) -> HTMLResponse:
    """Resume it where it stopped; the progress fragment with what the backtester answered."""
    return await _control(request, backtest_id, "resume", viewer, backtests, state)


def period(summary: BacktestSummary) -> str:
    """``2026-10-01 → 2026-11-01`` (times too when they are not midnight UTC)."""
    start, end = (moment.astimezone(UTC) for moment in (summary.request.start, summary.request.end))
    midnight = all(moment.time() == moment.min.time() for moment in (start, end))
    shape = "%Y-%m-%d" if midnight else "%Y-%m-%d %H:%M"
    return f"{start:{shape}} → {end:{shape}}"
