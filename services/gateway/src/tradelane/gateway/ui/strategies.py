"""``/strategies``: the list (last and next run, run now, pause or activate, delete), create and edit.

Every action calls the REST route's own function (:mod:`tradelane.gateway.routes.strategies`),
so the checks are the API's: the definition is validated by the same model, the cron by the
same rule, the scope needed for ``auto_trade`` by the same policy, and a taken name is the same
conflict. A refused form comes back with each error next to its field, as a 200 (it is a
successful rendering of the form, which htmx swaps in); nothing is stored then.

While the form changes, ``POST /strategies/check`` asks the API's own check
(:func:`~tradelane.gateway.routes.strategies.check_strategy`) and shows its warnings and the
next five runs, or puts the errors next to their fields. Which input stands for which field is
in :mod:`.strategy_form`.
"""

from __future__ import annotations

from typing import Any, Final
from uuid import UUID

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from tradelane.contracts.strategy import (
    AnalysisSettings,
    BarSize,
    StrategyDefinition,
    SymbolRef,
)
from tradelane.contracts.symbols import SymbolSummary
from tradelane.gateway.deps import Bus, Caller, Lineage, State, Strategies
from tradelane.gateway.routes import executions as executions_api
from tradelane.gateway.routes import prompts as prompts_api
from tradelane.gateway.routes import strategies as api
from tradelane.gateway.routes import symbols as symbols_api
from tradelane.gateway.schemas import ExecutionOut, StrategyOut
from tradelane.gateway.ui.forms import FORM_LEVEL, field_errors, form_values
from tradelane.gateway.ui.strategy_form import (
    INDICATOR_KINDS,
    REQUIRED,
    StrategyForm,
    body_of,
    choices,
    form_of,
    located,
    new_form,
    timeframe_name,
    with_indicator,
    without_indicator,
)
from tradelane.gateway.ui.templating import render
from tradelane.gateway.ui.viewer import SignedIn, Viewer

router = APIRouter(include_in_schema=False)

INDICATOR_LABELS: Final = {
    "ma": "Moving average",
    "rsi": "RSI",
    "macd": "MACD",
    "bbands": "Bollinger Bands",
    "supertrend": "SuperTrend",
    "atr": "ATR",
    "obv": "On-Balance Volume",
    "volume_ma": "Volume average",
    "patterns": "Candlestick patterns",
}
"""How the form names each indicator kind (a kind missing here shows as its key)."""
UNFILLED: Final = "unfilled"
"""What the live check puts in a required field left empty so far."""
SUGGESTIONS: Final = 8
"""Symbols suggested while typing."""


def _labels() -> dict[str, str]:
    return {kind: INDICATOR_LABELS.get(kind, kind) for kind in INDICATOR_KINDS}


async def _choices(state: State) -> dict[str, Any]:
    """The options of the form's selects: the API's own sets, and the active prompt templates."""
    prompts = await prompts_api.list_prompts(state, active=True)
    return {
        "bar_sizes": [size.value for size in BarSize],
        "asset_types": choices(SymbolRef, "asset_type"),
        "what_to_show": choices(StrategyDefinition, "what_to_show"),
        "analysts": choices(AnalysisSettings, "analyst"),
        "languages": choices(AnalysisSettings, "language"),
        "on_failure": choices(AnalysisSettings, "on_failure"),
        "prompt_templates": [("", "Default"), *((str(p.id), f"{p.name} (v{p.latest_version})") for p in prompts)],
        "timeframes": [(size.value, timeframe_name(size)) for size in BarSize],
        "indicator_labels": _labels(),
    }


async def _form_context(
    state: State, viewer: Viewer, form: StrategyForm, editing: StrategyOut | None = None, **extra: Any
) -> dict[str, Any]:
    return {"viewer": viewer, "form": form, "editing": editing, **await _choices(state), **extra}


async def _listing(strategies: Strategies, lineage: Lineage) -> dict[str, Any]:
    """The strategies and the last execution of each (the lineage's newest)."""
    listed = await api.list_strategies(strategies)
    last_runs: dict[UUID, ExecutionOut] = {}
    for strategy in listed:
        latest = await executions_api.list_executions(lineage, strategy_id=strategy.id, limit=1)
        if latest:
            last_runs[strategy.id] = latest[0]
    return {"strategies": listed, "last_runs": last_runs}


@router.get("/strategies")
async def strategies_page(
    request: Request, viewer: SignedIn, strategies: Strategies, lineage: Lineage, state: State
) -> HTMLResponse:
    return render(
        request,
        "strategies.html",
        {
            "page": "strategies",
            **await _listing(strategies, lineage),
            **await _form_context(state, viewer, new_form()),
        },
    )


def _refusal(error: Exception, values: dict[str, str], form: StrategyForm) -> dict[str, str]:
    """Why the API refused the definition, by field."""
    if isinstance(error, ValidationError | RequestValidationError):
        return field_errors(located(list(error.errors()), form.row_numbers), [*form.error_slots(), *values])
    assert isinstance(error, HTTPException)
    if error.status_code == status.HTTP_409_CONFLICT:
        return {"name": str(error.detail)}
    if error.status_code == status.HTTP_403_FORBIDDEN:
        return {"auto_trade": str(error.detail)}
    return {FORM_LEVEL: str(error.detail)}


@router.post("/strategies")
async def create(
    request: Request, viewer: SignedIn, strategies: Strategies, lineage: Lineage, caller: Caller, state: State
) -> HTMLResponse:
    """Create from the form; the form again with the errors, or a new form and the list with it."""
    values = await form_values(request)
    try:
        created = await api.create_strategy(StrategyDefinition.model_validate(body_of(values)), strategies, caller)
    except (ValidationError, RequestValidationError, HTTPException) as error:
        form = StrategyForm(values)
        form.errors = _refusal(error, values, form)
        return render(request, "_strategy_form.html", await _form_context(state, viewer, form))
    return render(
        request,
        "_strategy_created.html",
        {
            "created": created,
            **await _listing(strategies, lineage),
            **await _form_context(state, viewer, new_form()),
        },
    )


@router.get("/strategies/{strategy_id}/edit")
async def edit_page(
    request: Request, strategy_id: UUID, viewer: SignedIn, strategies: Strategies, state: State
) -> HTMLResponse:
    """The form of a stored strategy, every field filled in."""
    stored = await api.get_strategy(strategy_id, strategies)
    return render(
        request,
        "strategy_edit.html",
        {"page": "strategies", **await _form_context(state, viewer, form_of(stored.definition), stored)},
    )


@router.put("/strategies/{strategy_id}")
async def update(
    request: Request, strategy_id: UUID, viewer: SignedIn, strategies: Strategies, caller: Caller, state: State
) -> Response:
    """Replace the definition from the form; the form again with the errors, or back to the list."""
    values = await form_values(request)
    stored = await api.get_strategy(strategy_id, strategies)
    try:
        definition = StrategyDefinition.model_validate(body_of(values))
        await api.update_strategy(strategy_id, definition, strategies, caller)
    except (ValidationError, RequestValidationError, HTTPException) as error:
        form = StrategyForm(values)
        form.errors = _refusal(error, values, form)
        return render(request, "_strategy_form.html", await _form_context(state, viewer, form, stored))
    return Response(headers={"HX-Redirect": "/strategies"})


async def _rebuilt(request: Request) -> StrategyForm:
    """The submitted form with an indicator row added or removed (nothing is stored)."""
    values = await form_values(request)
    if "remove_indicator" in values and values["remove_indicator"].isdigit():
        values = without_indicator(values, int(values["remove_indicator"]))
    elif "add_indicator" in values and values.get("new_indicator") in INDICATOR_KINDS:
        values = with_indicator(values, values["new_indicator"])
    return StrategyForm(values)


@router.post("/strategies/form")
async def rebuild_new_form(request: Request, viewer: SignedIn, state: State) -> HTMLResponse:
    """The new-strategy form with an indicator added or removed."""
    return render(request, "_strategy_form.html", await _form_context(state, viewer, await _rebuilt(request)))


@router.post("/strategies/{strategy_id}/form")
async def rebuild_edit_form(
    request: Request, strategy_id: UUID, viewer: SignedIn, strategies: Strategies, state: State
) -> HTMLResponse:
    """A stored strategy's form with an indicator added or removed (saved only by "Save changes")."""
    stored = await api.get_strategy(strategy_id, strategies)
    form = await _rebuilt(request)
    return render(request, "_strategy_form.html", await _form_context(state, viewer, form, stored))


@router.post("/strategies/check")
async def check(request: Request) -> HTMLResponse:
    """The form's live check: the API's warnings and next five runs, or its errors next to their fields."""
    values = await form_values(request)
    form = StrategyForm(values)
    context: dict[str, Any] = {"slots": form.error_slots(), "errors": {}}
    # a required field not filled in yet is said when saving; until then it should not hide the warnings and runs
    unfilled = {name: UNFILLED for name in REQUIRED if not values.get(name)}
    try:
        definition = StrategyDefinition.model_validate(body_of(values | unfilled))
        context["check"] = await api.check_strategy(definition)
    except (ValidationError, RequestValidationError) as error:
        context["errors"] = _refusal(error, values, form)
    return render(request, "_strategy_check.html", context)


@router.get("/strategies/symbols")
async def symbol_suggestions(request: Request, state: State) -> HTMLResponse:
    """Symbols matching what is typed, as the options of the symbol input's list; none when search cannot answer."""
    text = request.query_params.get("symbol.symbol", "").strip()
    matches: tuple[SymbolSummary, ...] = ()
    if text:
        try:
            matches = (await symbols_api.search_symbols(state, q=text[:64], limit=SUGGESTIONS)).results
        except (HTTPException, RequestValidationError):
            matches = ()
    return render(request, "_symbol_options.html", {"matches": matches})


async def _rows(
    request: Request,
    viewer: Viewer,
    strategies: Strategies,
    lineage: Lineage,
    message: str,
    *,
    failed: bool = False,
) -> HTMLResponse:
    return render(
        request,
        "_strategy_list.html",
        {"viewer": viewer, **await _listing(strategies, lineage), "message": message, "failed": failed},
    )


@router.post("/strategies/{strategy_id}/run")
async def run_now(
    request: Request,
    strategy_id: UUID,
    viewer: SignedIn,
    strategies: Strategies,
    lineage: Lineage,
    bus: Bus,
    state: State,
) -> Response:
    """Request a run, then take the browser to the execution's page (``HX-Redirect``)."""
    try:
        accepted = await api.run_strategy(strategy_id, strategies, bus, state)
    except HTTPException as error:
        return await _rows(request, viewer, strategies, lineage, str(error.detail), failed=True)
    return Response(headers={"HX-Redirect": f"/executions/{accepted.execution_id}"})


@router.post("/strategies/{strategy_id}/active")
async def toggle_active(
    request: Request, strategy_id: UUID, viewer: SignedIn, strategies: Strategies, lineage: Lineage, caller: Caller
) -> HTMLResponse:
    """Pause an active strategy or activate a paused one (the whole definition is replaced, as with PUT)."""
    try:
        current = await api.get_strategy(strategy_id, strategies)
        definition = current.definition.model_copy(update={"active": not current.definition.active})
        updated = await api.update_strategy(strategy_id, definition, strategies, caller)
    except HTTPException as error:
        return await _rows(request, viewer, strategies, lineage, str(error.detail), failed=True)
    state = "active" if updated.definition.active else "paused"
    return await _rows(request, viewer, strategies, lineage, f"{updated.definition.name} is now {state}.")


@router.delete("/strategies/{strategy_id}")
async def delete(
    request: Request, strategy_id: UUID, viewer: SignedIn, strategies: Strategies, lineage: Lineage
) -> HTMLResponse:
    """Delete a strategy; its executions stay in the lineage."""
    try:
        await api.delete_strategy(strategy_id, strategies)
    except HTTPException as error:
        return await _rows(request, viewer, strategies, lineage, str(error.detail), failed=True)
    return await _rows(request, viewer, strategies, lineage, "Strategy deleted; its executions stay in the lineage.")
