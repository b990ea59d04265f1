"""``/strategies``: the list with run now, pause or activate and delete, and the create form.

Every action calls the REST route's own function (:mod:`tradelane.gateway.routes.strategies`),
so the checks are the API's: the definition is validated by the same model, the cron by the
same rule, the scope needed for ``auto_trade`` by the same policy, and a taken name is the same
conflict. A refused form comes back with each error next to its field, as a 200 (it is a
successful rendering of the form, which htmx swaps in); nothing is stored then.
"""

from __future__ import annotations

from typing import Any, Final, get_args
from uuid import UUID

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from tradelane.contracts.strategy import AnalysisSettings, BarSize, Schedule, StrategyDefinition
from tradelane.gateway.deps import Bus, Caller, State, Strategies
from tradelane.gateway.routes import strategies as api
from tradelane.gateway.schemas import StrategyOut
from tradelane.gateway.ui.forms import FORM_LEVEL, field_errors, form_values, nested
from tradelane.gateway.ui.templating import render
from tradelane.gateway.ui.viewer import SignedIn, Viewer

router = APIRouter(include_in_schema=False)

FIELDS: Final = (
    "name",
    "description",
    "symbol.symbol",
    "symbol.exchange",
    "symbol.currency",
    "bar_size",
    "duration",
    "schedule.cron",
    "schedule.timezone",
    "analysis.analyst",
    "risk.account_size",
    "risk.risk_per_trade",
    "risk.min_risk_reward",
    "active",
    "render_png",
    "auto_trade",
)
CHECKBOXES: Final = ("active", "render_png", "auto_trade")
REQUIRED: Final = ("name", "symbol.symbol")
_DEFAULTS: Final = StrategyDefinition.model_fields
NEW_FORM: Final = {
    "bar_size": str(_DEFAULTS["bar_size"].default),
    "duration": str(_DEFAULTS["duration"].default),
    "schedule.cron": Schedule().cron,
    "schedule.timezone": Schedule().timezone,
}
"""The text inputs of a new form, at the API's defaults."""
NEW_CHECKED: Final = {name: bool(_DEFAULTS[name].default) for name in CHECKBOXES}


def _choices() -> dict[str, Any]:
    return {
        "bar_sizes": [size.value for size in BarSize],
        "analysts": get_args(AnalysisSettings.model_fields["analyst"].annotation),
    }


async def _listing(strategies: Strategies) -> list[StrategyOut]:
    return await api.list_strategies(strategies)


def _empty_form() -> dict[str, Any]:
    """The create form as it first appears: the API's defaults filled in, no errors."""
    return {"values": NEW_FORM, "checked": NEW_CHECKED, "errors": {}, **_choices()}


@router.get("/strategies")
async def strategies_page(request: Request, viewer: SignedIn, strategies: Strategies) -> HTMLResponse:
    return render(
        request,
        "strategies.html",
        {
            "viewer": viewer,
            "page": "strategies",
            "strategies": await _listing(strategies),
            **_empty_form(),
        },
    )


def _refusal(error: Exception) -> dict[str, str]:
    """Why the API refused the definition, by field."""
    if isinstance(error, ValidationError | RequestValidationError):
        return field_errors(error.errors(), FIELDS)
    assert isinstance(error, HTTPException)
    if error.status_code == status.HTTP_409_CONFLICT:
        return {"name": str(error.detail)}
    if error.status_code == status.HTTP_403_FORBIDDEN:
        return {"auto_trade": str(error.detail)}
    return {FORM_LEVEL: str(error.detail)}


@router.post("/strategies")
async def create(request: Request, viewer: SignedIn, strategies: Strategies, caller: Caller) -> HTMLResponse:
    """Create from the form; the form again with the errors, or a new form and the list with it."""
    values = await form_values(request)
    body = nested(values, checkboxes=CHECKBOXES, required=REQUIRED)
    try:
        created = await api.create_strategy(StrategyDefinition.model_validate(body), strategies, caller)
    except (ValidationError, RequestValidationError, HTTPException) as error:
        checked = {name: name in values for name in CHECKBOXES}
        context = {"values": values, "checked": checked, "errors": _refusal(error)}
        return render(request, "_strategy_form.html", {"viewer": viewer, **context, **_choices()})
    return render(
        request,
        "_strategy_created.html",
        {
            "viewer": viewer,
            "created": created,
            "strategies": await _listing(strategies),
            **_empty_form(),
        },
    )


def _rows(
    request: Request, viewer: Viewer, listing: list[StrategyOut], message: str, *, failed: bool = False
) -> HTMLResponse:
    return render(
        request,
        "_strategy_list.html",
        {"viewer": viewer, "strategies": listing, "message": message, "failed": failed},
    )


@router.post("/strategies/{strategy_id}/run")
async def run_now(
    request: Request, strategy_id: UUID, viewer: SignedIn, strategies: Strategies, bus: Bus, state: State
) -> Response:
    """Request a run, then take the browser to the execution's page (``HX-Redirect``)."""
    try:
        accepted = await api.run_strategy(strategy_id, strategies, bus, state)
    except HTTPException as error:
        return _rows(request, viewer, await _listing(strategies), str(error.detail), failed=True)
    return Response(headers={"HX-Redirect": f"/executions/{accepted.execution_id}"})


@router.post("/strategies/{strategy_id}/active")
async def toggle_active(
    request: Request, strategy_id: UUID, viewer: SignedIn, strategies: Strategies, caller: Caller
) -> HTMLResponse:
    """Pause an active strategy or activate a paused one (the whole definition is replaced, as with PUT)."""
    try:
        current = await api.get_strategy(strategy_id, strategies)
        definition = current.definition.model_copy(update={"active": not current.definition.active})
        updated = await api.update_strategy(strategy_id, definition, strategies, caller)
    except HTTPException as error:
        return _rows(request, viewer, await _listing(strategies), str(error.detail), failed=True)
    state = "active" if updated.definition.active else "paused"
    return _rows(request, viewer, await _listing(strategies), f"{updated.definition.name} is now {state}.")


@router.delete("/strategies/{strategy_id}")
async def delete(request: Request, strategy_id: UUID, viewer: SignedIn, strategies: Strategies) -> HTMLResponse:
    """Delete a strategy; its executions stay in the lineage."""
    try:
        await api.delete_strategy(strategy_id, strategies)
    except HTTPException as error:
        return _rows(request, viewer, await _listing(strategies), str(error.detail), failed=True)
    return _rows(request, viewer, await _listing(strategies), "Strategy deleted; its executions stay in the lineage.")
