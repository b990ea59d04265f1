"""``/prompts``: the templates, a new one, and one template's editor with checks as you type, a preview and its history.

Every action calls the REST route's own function (:mod:`tradelane.gateway.routes.prompts`), so
the checks are the API's: the editor's text is validated by ``POST /api/prompts/validate``'s
function as the operator types (htmx posts it after a pause), previewed by ``render``'s (over
the sample's variables or a recent execution's), and saved by ``PATCH``'s, which makes a new
version only when the text changed. The history shows each version against the one before as a
unified diff (:mod:`.textdiff`), fetched when the operator opens it.

A new template (``/prompts/new``, with the same checks as you type) is created by
``POST /api/prompts``'s function: a taken name is said next to the name, the text's problems
under the text, any other refusal next to its field; once created, the browser goes to its page.
"""

from __future__ import annotations

from typing import Any, Final
from uuid import UUID

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from tradelane.gateway.deps import Lineage, State, Strategies
from tradelane.gateway.errors import without_knock_on_errors
from tradelane.gateway.routes import executions as executions_api
from tradelane.gateway.routes import prompts as api
from tradelane.gateway.routes.strategies import list_strategies
from tradelane.gateway.ui.forms import FORM_LEVEL, field_errors, form_values, nested
from tradelane.gateway.ui.templating import render
from tradelane.gateway.ui.textdiff import unified
from tradelane.gateway.ui.viewer import SignedIn, Viewer
from tradelane.prompts.defaults import default_template
from tradelane.prompts.kinds import LANGUAGES, TEMPLATE_TYPES

router = APIRouter(include_in_schema=False)

RECENT_EXECUTIONS: Final = 20
"""Executions offered to preview against, newest first."""
NEW_FIELDS: Final = ("name", "type", "language", "is_default", "notes", "text")
"""The new-template form's inputs, named as ``POST /api/prompts``'s body (the other fields keep the API's defaults)."""
CHECKBOXES: Final = ("is_default",)
REQUIRED: Final = ("name", "text")
STARTING_POINT: Final = default_template("analysis", "en")
"""What a new template's text starts as: the built-in template executions use when none is stored."""


def _messages(error: Exception) -> list[str]:
    """What the API refused, in its own words (a 422's errors, or a 4xx's detail)."""
    if isinstance(error, ValidationError | RequestValidationError):
        return [str(item["msg"]) for item in without_knock_on_errors(error.errors())]
    assert isinstance(error, HTTPException)
    return [str(error.detail)]


@router.get("/prompts")
async def prompts_page(request: Request, viewer: SignedIn, state: State) -> HTMLResponse:
    return render(
        request, "prompts.html", {"viewer": viewer, "page": "prompts", "prompts": await api.list_prompts(state)}
    )


def _new_form(
    viewer: Viewer, values: dict[str, str], errors: dict[str, str], text_problems: list[str]
) -> dict[str, Any]:
    return {
        "viewer": viewer,
        "values": values,
        "ticked": {name: name in values for name in CHECKBOXES},
        "errors": errors,
        "text_problems": text_problems,
        "types": TEMPLATE_TYPES,
        "languages": LANGUAGES,
        "starting_point": STARTING_POINT.name,
    }


@router.get("/prompts/new")  # before /prompts/{template_id}, which would take "new" for an id
async def new_prompt_page(request: Request, viewer: SignedIn) -> HTMLResponse:
    values = {"type": STARTING_POINT.type, "language": STARTING_POINT.language, "text": STARTING_POINT.text}
    return render(request, "prompt_new.html", {"page": "prompts", **_new_form(viewer, values, {}, [])})


def _creation_refused(error: Exception) -> tuple[dict[str, str], list[str]]:
    """Why the API refused the new template: by field, with the text's problems one by one (as the checks list them)."""
    if isinstance(error, HTTPException):
        return {"name" if error.status_code == status.HTTP_409_CONFLICT else FORM_LEVEL: str(error.detail)}, []
    assert isinstance(error, ValidationError | RequestValidationError)
    found = without_knock_on_errors(error.errors())
    about_text = [item for item in found if [part for part in item["loc"] if part != "body"] == ["text"]]
    others = [item for item in found if item not in about_text]
    return field_errors(others, NEW_FIELDS), [str(item["msg"]) for item in about_text]


@router.post("/prompts")
async def create(request: Request, viewer: SignedIn, state: State) -> Response:
    """Create from the form, then take the browser to the new template (``HX-Redirect``); or the form again with
    the API's refusal."""
    values = await form_values(request)
    try:
        body = api.PromptIn.model_validate(nested(values, checkboxes=CHECKBOXES, required=REQUIRED))
        created = await api.create_prompt(body, state)
    except (ValidationError, RequestValidationError, HTTPException) as error:
        errors, text_problems = _creation_refused(error)
        return render(request, "_prompt_form.html", _new_form(viewer, values, errors, text_problems))
    return Response(headers={"HX-Redirect": f"/prompts/{created.id}"})


async def _history(state: State, template_id: UUID) -> list[api.PromptVersionOut]:
    """The template's versions, newest first."""
    return list(reversed(await api.list_versions(template_id, state)))


@router.get("/prompts/{template_id}")
async def prompt_page(
    request: Request, template_id: UUID, viewer: SignedIn, state: State, lineage: Lineage, strategies: Strategies
) -> HTMLResponse:
    prompt = await api.get_prompt(template_id, state)
    executions = await executions_api.list_executions(
        lineage, strategy_id=None, status=None, limit=RECENT_EXECUTIONS, offset=0
    )
    return render(
        request,
        "prompt.html",
        {
            "viewer": viewer,
            "page": "prompts",
            "prompt": prompt,
            "versions": await _history(state, template_id),
            "executions": executions,
            "names": {strategy.id: strategy.definition.name for strategy in await list_strategies(strategies)},
            "checked": None,
            "refused": [],
        },
    )


@router.post("/prompts/validate")
async def check(request: Request, state: State) -> HTMLResponse:
    """The editor's problems (syntax, undefined variables, the trial render), or that there are none."""
    values = await form_values(request)
    context: dict[str, Any]
    try:
        given = {key: values[key] for key in ("text", "type", "language") if key in values}
        body = api.ValidateIn.model_validate(given)
        checked = await api.validate_prompt(body, state)
    except (ValidationError, RequestValidationError) as error:
        context = {"checked": None, "refused": _messages(error)}
    else:
        context = {"checked": checked, "refused": []}
    return render(request, "_prompt_problems.html", context)


@router.post("/prompts/{template_id}/preview")
async def preview(request: Request, template_id: UUID, state: State) -> HTMLResponse:
    """The editor's text rendered with a recent execution's variables (or the sample's)."""
    values = await form_values(request)
    prompt = await api.get_prompt(template_id, state)
    asked = {"text": values.get("text", ""), "type": prompt.type, "language": prompt.language}
    if values.get("execution_id"):
        asked["execution_id"] = values["execution_id"]
    try:
        body = api.RenderIn.model_validate(asked)
        rendered = await api.render_prompt(body, state)
    except (ValidationError, RequestValidationError, HTTPException) as error:
        return render(request, "_prompt_preview.html", {"rendered": None, "refused": _messages(error)})
    context = {"rendered": rendered, "refused": [], "execution_id": body.execution_id}
    return render(request, "_prompt_preview.html", context)


@router.post("/prompts/{template_id}/versions")
async def save(request: Request, template_id: UUID, viewer: SignedIn, state: State) -> HTMLResponse:
    """Save the editor's text as the next version; the history again, with what happened."""
    values = await form_values(request)
    before = await api.get_prompt(template_id, state)
    refused: list[str] = []
    saved = None
    try:
        saved = await api.update_prompt(template_id, api.PromptUpdate(text=values.get("text", "")), state)
    except (ValidationError, RequestValidationError, HTTPException) as error:
        refused = _messages(error)
    context = {
        "viewer": viewer,
        "prompt": saved or before,
        "versions": await _history(state, template_id),
        "refused": refused,
        "unchanged": saved is not None and saved.version == before.version,
        "saved": saved is not None and saved.version != before.version,
    }
    return render(request, "_prompt_history.html", context)


@router.get("/prompts/{template_id}/versions/{version}/diff")
async def version_diff(request: Request, template_id: UUID, version: int, state: State) -> HTMLResponse:
    """What ``version`` changed in the text of the version before it (all of it, for the first)."""
    versions = {item.version: item for item in await api.list_versions(template_id, state)}
    if version not in versions:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"prompt template {template_id} has no version {version}")
    earlier = max((number for number in versions if number < version), default=None)
    before = versions[earlier].text if earlier is not None else ""
    lines = unified(
        before,
        versions[version].text,
        before_name=f"version {earlier}" if earlier is not None else "(nothing)",
        after_name=f"version {version}",
    )
    return render(request, "_prompt_diff.html", {"lines": lines})
