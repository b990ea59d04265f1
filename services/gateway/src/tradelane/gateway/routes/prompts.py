"""``/api/prompts``: versioned Jinja2 prompt templates for the LLM analyst.

A template is validated before it is stored (syntax, undefined variables, a trial render with
sample data); a 422 names the line and the variable. A preview renders with the sample's
variables or with those the analysis of a recorded execution saw. Every render (validate, render, create,
update) runs in a worker thread and a separate process within the render limits (time,
output size, memory); a template that exceeds one is a 422 naming the limit, and the gateway
keeps answering other requests meanwhile. Changing the text makes a new version;
old versions stay readable at ``/api/prompts/{id}/versions/{version}``. A template that a
strategy names in ``analysis.prompt_template_id`` cannot be deleted (409).
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, HTTPException, Path, Query, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tradelane.contracts import subjects
from tradelane.contracts.events import ChartRendered
from tradelane.contracts.fields import PG_INT_MAX, Text, Version
from tradelane.contracts.subjects import Step
from tradelane.gateway.deps import State
from tradelane.gateway.errors import CONFLICT, GONE, NOT_FOUND, detail_pruned
from tradelane.prompts.context import IndicatorValues, sample_context, template_context
from tradelane.prompts.defaults import default_templates
from tradelane.prompts.kinds import Language, TemplateType
from tradelane.prompts.limits import RenderLimits
from tradelane.prompts.rendering import MAX_TEMPLATE_CHARS, TemplateLimitError, TemplateRenderError, render_async
from tradelane.prompts.validation import ProblemKind, TemplateProblem, validate, variables_used
from tradelane.prompts.variables import VARIABLES
from tradelane.store.lineage_retention import DetailPrunedError
from tradelane.store.prompts import PromptFields, PromptInUseError, PromptNameTakenError, PromptTemplate
from tradelane.store.replay import ReplayQueries, UnknownExecutionError

router = APIRouter(prefix="/api/prompts", tags=["prompts"])

MAX_TAGS = 20
MAX_TAG_CHARS = 40
MAX_NAME_CHARS = 120
MAX_NOTES_CHARS = 2000
MAX_CONTEXT_VARIABLES = 200
"""Most variables a render request may set (each replaces one of the sample's)."""

Tag = Annotated[Text, Field(max_length=MAX_TAG_CHARS)]

EXAMPLE_TEXT = (
    "Analyse {{ symbol }} on the {{ timeframe }} chart. Latest price {{ latest_price | price }} {{ currency }}; "
    "RSI {{ indicators.rsi_14 | number(1) }}.\nAnswer with the JSON object described."
)


def _clean_tags(tags: list[str]) -> list[str]:
    cleaned = []
    for tag in tags:
        stripped = tag.strip().lower()
        if not stripped or len(stripped) > MAX_TAG_CHARS:
            msg = f"tag {tag!r} must have 1 to {MAX_TAG_CHARS} characters"
            raise ValueError(msg)
        if stripped not in cleaned:
            cleaned.append(stripped)
    return cleaned


class PromptIn(BaseModel):
    """A new template."""

    model_config = ConfigDict(extra="forbid")

    name: Text = Field(min_length=1, max_length=MAX_NAME_CHARS, examples=["swing-daily-en"])
    type: TemplateType = Field(description="analysis, consolidation or system.")
    language: Language = "en"
    text: Text = Field(min_length=1, max_length=MAX_TEMPLATE_CHARS, examples=[EXAMPLE_TEXT])
    strategy_id: UUID | None = Field(default=None, description="Scope: null is global, else the one strategy.")
    active: bool = Field(default=True, description="Only active templates are picked as defaults.")
    is_default: bool = Field(
        default=False, description="Use it for its type and language (in its scope) when a strategy names none."
    )
    tags: list[Tag] = Field(default=[], max_length=MAX_TAGS)
    notes: Text = Field(default="", max_length=MAX_NOTES_CHARS)

    @field_validator("tags")
    @classmethod
    def _tags_are_clean(cls, tags: list[str]) -> list[str]:
        return _clean_tags(tags)


class PromptUpdate(BaseModel):
    """Fields to change; those left out keep their value. A new ``text`` makes a new version."""

    model_config = ConfigDict(extra="forbid")

    name: Text | None = Field(default=None, min_length=1, max_length=MAX_NAME_CHARS)
    type: TemplateType | None = Field(default=None, description="Cannot change; accepted when it is the same.")
    language: Language | None = None
    text: Text | None = Field(default=None, min_length=1, max_length=MAX_TEMPLATE_CHARS)
    strategy_id: UUID | None = Field(default=None, description="null makes the template global.")
    active: bool | None = None
    is_default: bool | None = None
    tags: list[Tag] | None = Field(default=None, max_length=MAX_TAGS)
    notes: Text | None = Field(default=None, max_length=MAX_NOTES_CHARS)

    @field_validator("tags")
    @classmethod
    def _tags_are_clean(cls, tags: list[str] | None) -> list[str] | None:
        return None if tags is None else _clean_tags(tags)


class PromptOut(BaseModel):
    """A template at one version (the latest, unless asked for another)."""

    id: UUID
    name: str
    type: TemplateType
    language: Language
    strategy_id: UUID | None
    active: bool
    is_default: bool
    tags: list[str]
    notes: str
    version: int = Field(description="The version shown.")
    latest_version: int
    text: str
    variables: list[str] = Field(description="The template variables the text reads.")
    created_at: datetime
    updated_at: datetime
    version_created_at: datetime

    @classmethod
    def of(cls, template: PromptTemplate) -> PromptOut:
        fields = template.fields
        return cls(
            id=template.id,
            name=fields.name,
            type=fields.type,
            language=fields.language,
            strategy_id=fields.strategy_id,
            active=fields.active,
            is_default=fields.is_default,
            tags=list(fields.tags),
            notes=fields.notes,
            version=template.version,
            latest_version=template.latest_version,
            text=template.text,
            variables=variables_used(template.text),
            created_at=template.created_at,
            updated_at=template.updated_at,
            version_created_at=template.version_created_at,
        )


async def _out(*templates: PromptTemplate) -> list[PromptOut]:
    """The templates as returned, built off the event loop: finding a long text's variables parses it."""
    return await asyncio.to_thread(lambda: [PromptOut.of(template) for template in templates])


class PromptVersionOut(BaseModel):
    version: int
    text: str
    created_at: datetime


class ValidateIn(BaseModel):
    """A template text to check, as a template of ``type`` in ``language``."""

    text: str = Field(max_length=MAX_TEMPLATE_CHARS * 2, examples=[EXAMPLE_TEXT])
    type: TemplateType = "analysis"
    language: Language = "en"


class ProblemOut(BaseModel):
    kind: ProblemKind
    message: str
    line: int | None = Field(description="Template line at fault, when known.")
    name: str | None = Field(description="The undefined variable, for undefined_variable.")

    @classmethod
    def of(cls, problem: TemplateProblem) -> ProblemOut:
        return cls(kind=problem.kind, message=problem.message, line=problem.line, name=problem.name)


class ValidateOut(BaseModel):
    valid: bool
    problems: list[ProblemOut]
    variables: list[str] = Field(description="The template variables the text reads.")


class RenderIn(BaseModel):
    """What to render: a ``text``, or a stored template (``template_id``, optionally a ``version``)."""

    model_config = ConfigDict(extra="forbid")

    text: str | None = Field(default=None, max_length=MAX_TEMPLATE_CHARS * 2, examples=[EXAMPLE_TEXT])
    template_id: UUID | None = None
    version: Version | None = None
    type: TemplateType | None = Field(
        default=None, description="Which sample to render with; default: the stored template's type, else analysis."
    )
    language: Language | None = None
    context: dict[str, Any] = Field(
        default={}, max_length=MAX_CONTEXT_VARIABLES, description="Variables to use; they replace the sample's."
    )
    use_sample: bool = Field(default=True, description="Start from the sample execution's variables.")
    execution_id: UUID | None = Field(
        default=None,
        description="Start from the variables the analysis of this recorded execution saw (its chart message in "
        "the lineage) instead of the sample's; ``use_sample`` is then ignored.",
    )

    @model_validator(mode="after")
    def _one_source(self) -> RenderIn:
        if (self.text is None) == (self.template_id is None):
            msg = "give either text or template_id (with an optional version), not both and not neither"
            raise ValueError(msg)
        if self.version is not None and self.template_id is None:
            msg = "version needs a template_id"
            raise ValueError(msg)
        return self


class RenderOut(BaseModel):
    text: str = Field(description="The rendered prompt.")
    template_id: UUID | None
    version: int | None


class VariableOut(BaseModel):
    name: str
    type: str
    description: str
    example: str


class DefaultTemplateOut(BaseModel):
    """A built-in template: what an execution uses when no stored template applies."""

    type: TemplateType
    language: Language
    name: str
    text: str


def _not_found(template_id: UUID, version: int | None = None) -> HTTPException:
    which = f"version {version} of prompt template {template_id}" if version else f"prompt template {template_id}"
    return HTTPException(
        status.HTTP_404_NOT_FOUND,
        f"no {which}; list the templates with GET /api/prompts (and versions with GET /api/prompts/{{id}}/versions)",
    )


def _invalid(field: str, message: str, value: object = None) -> RequestValidationError:
    """A 422 at ``body.<field>`` in FastAPI's validation error shape."""
    return RequestValidationError([{"type": "value_error", "loc": ("body", field), "msg": message, "input": value}])


async def _problems(
    text: str, template_type: TemplateType, language: Language, limits: RenderLimits
) -> list[TemplateProblem]:
    """:func:`validate` off the event loop (its trial render may take up to the render time limit)."""
    return await asyncio.to_thread(validate, text, template_type, language, limits)


def _template_error(problems: list[TemplateProblem]) -> RequestValidationError:
    """A 422 at ``body.text`` with one error per problem, typed ``template_<kind>``."""
    return RequestValidationError(
        [
            {
                "type": f"template_{problem.kind}",
                "loc": ("body", "text"),
                "msg": str(problem),
                "input": problem.name,
                "ctx": {"line": problem.line, "name": problem.name},
            }
            for problem in problems
        ]
    )


async def _refuse_invalid(text: str, template_type: TemplateType, language: Language, limits: RenderLimits) -> None:
    problems = await _problems(text, template_type, language, limits)
    if problems:
        raise _template_error(problems)


async def _ensure_strategy(state: State, strategy_id: UUID | None) -> None:
    if strategy_id is not None and await state.strategies.get(strategy_id) is None:
        message = f"no strategy with id {strategy_id}; use null for a global template"
        raise _invalid("strategy_id", message, str(strategy_id))


@router.get("/variables", summary="Variables a template can use")
async def list_variables() -> list[VariableOut]:
    """Every variable, its type, what it holds and an example of its use."""
    return [VariableOut(**variable.__dict__) for variable in VARIABLES]


@router.get("/defaults", summary="Built-in templates")
async def list_defaults() -> list[DefaultTemplateOut]:
    """The shipped analysis, consolidation and system templates in each language (a starting point for yours)."""
    return [
        DefaultTemplateOut(type=item.type, language=item.language, name=item.name, text=item.text)
        for item in default_templates()
    ]


@router.post("/validate", summary="Check a template")
async def validate_prompt(body: ValidateIn, state: State) -> ValidateOut:
    """Syntax errors and undefined variables (with their line), then a trial render with sample data.

    A template whose trial render exceeds a render limit (time, output size, memory, a huge
    number or string) is refused with a 422 naming the limit; other problems are listed.
    """
    problems = await _problems(body.text, body.type, body.language, state.render_limits)
    refused = [problem for problem in problems if problem.kind == "limit"]
    if refused:
        raise _template_error(refused)
    found = [ProblemOut.of(problem) for problem in problems]
    variables = await asyncio.to_thread(variables_used, body.text)
    return ValidateOut(valid=not problems, problems=found, variables=variables)


async def _execution_context(state: State, execution_id: UUID) -> dict[str, Any]:
    """The variables of the base timeframe's analysis prompt of a recorded execution, rebuilt from the chart
    message its analysis step consumed, as the analyst builds them (``now`` is when the chart was published).

    404 when the lineage has no such execution; 422 at ``body.execution_id`` when it never reached the analysis;
    410 when the lineage pruned that chart message (``TRADELANE_LINEAGE_DETAIL_DAYS``).
    """
    try:
        messages = await ReplayQueries(state.pool).messages(execution_id)
    except UnknownExecutionError as error:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(error)) from error
    analysed = subjects.consumed_by(Step.ANALYSIS)
    charts = [message for message in messages if message.subject in analysed and message.is_step_output]
    if not charts:
        message = f"execution {execution_id} never reached the analysis (no chart was recorded); choose a later one"
        raise _invalid("execution_id", message, str(execution_id))
    if charts[-1].pruned_at is not None:
        raise detail_pruned(
            DetailPrunedError(execution_id, "chart message", charts[-1].pruned_at), state.lineage_detail_days
        )
    chart = ChartRendered.model_validate(charts[-1].payload)
    return template_context(chart.snapshot, chart.strategy, now=chart.occurred_at, chart_attached=chart.png is not None)


@router.post("/render", summary="Preview a template", responses=NOT_FOUND | GONE)
async def render_prompt(body: RenderIn, state: State) -> RenderOut:
    """Render a text or a stored template with ``context`` over the sample execution's variables, or over
    those a recorded execution's analysis saw (``execution_id``)."""
    text = body.text
    template_type: TemplateType = body.type or "analysis"
    language: Language = body.language or "en"
    version = None
    if body.template_id is not None:
        stored = await state.prompts.get(body.template_id, body.version)
        if stored is None:
            raise _not_found(body.template_id, body.version)
        text, version = stored.text, stored.version
        template_type = body.type or stored.fields.type
        language = body.language or stored.fields.language
    assert text is not None
    if body.execution_id is not None:
        context = await _execution_context(state, body.execution_id)
    else:
        context = sample_context(template_type, language) if body.use_sample else {}
    context.update(body.context)
    for key in ("indicators", "previous_indicators"):
        if isinstance(context.get(key), dict):
            context[key] = IndicatorValues(context[key])
    try:
        rendered = await render_async(text, context, state.render_limits)
    except TemplateRenderError as error:
        kind = "template_limit" if isinstance(error, TemplateLimitError) else "template_render"
        raise RequestValidationError(
            [{"type": kind, "loc": ("body", "text"), "msg": str(error), "input": None}]
        ) from error
    return RenderOut(text=rendered, template_id=body.template_id, version=version)


@router.post("", status_code=status.HTTP_201_CREATED, summary="Create a prompt template", responses=CONFLICT)
async def create_prompt(body: PromptIn, state: State) -> PromptOut:
    """Store a template at version 1, once its text validates; its name must be unique."""
    await _refuse_invalid(body.text, body.type, body.language, state.render_limits)
    await _ensure_strategy(state, body.strategy_id)
    fields = PromptFields(
        name=body.name,
        type=body.type,
        language=body.language,
        strategy_id=body.strategy_id,
        active=body.active,
        is_default=body.is_default,
        tags=tuple(body.tags),
        notes=body.notes,
    )
    try:
        stored = await state.prompts.create(fields, body.text)
    except PromptNameTakenError as error:
        raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from error
    [out] = await _out(stored)
    return out


@router.get("", summary="List prompt templates")
async def list_prompts(
    state: State,
    type: TemplateType | None = None,  # noqa: A002 - the filter's name in the API
    language: Language | None = None,
    strategy_id: Annotated[UUID | None, Query(description="Templates scoped to this strategy.")] = None,
    active: bool | None = None,
    tag: Annotated[list[Tag], Query(max_length=MAX_TAGS, description="Keep templates carrying every tag given.")] = [],  # noqa: B006
) -> list[PromptOut]:
    """Templates at their latest version, by name; each filter narrows the list."""
    templates = await state.prompts.list(
        type=type,
        language=language,
        strategy_id=strategy_id,
        active=active,
        tags=[item.strip().lower() for item in tag],
    )
    return await _out(*templates)


@router.get("/{template_id}", summary="Get a prompt template", responses=NOT_FOUND)
async def get_prompt(template_id: UUID, state: State) -> PromptOut:
    """The template at its latest version."""
    stored = await state.prompts.get(template_id)
    if stored is None:
        raise _not_found(template_id)
    [out] = await _out(stored)
    return out


@router.get("/{template_id}/versions", summary="List a template's versions", responses=NOT_FOUND)
async def list_versions(template_id: UUID, state: State) -> list[PromptVersionOut]:
    """Every version of the text, oldest first."""
    versions = await state.prompts.versions(template_id)
    if not versions:
        raise _not_found(template_id)
    return [PromptVersionOut(version=item.version, text=item.text, created_at=item.created_at) for item in versions]


@router.get("/{template_id}/versions/{version}", summary="Get one version of a template", responses=NOT_FOUND)
async def get_version(template_id: UUID, version: Annotated[int, Path(ge=1, le=PG_INT_MAX)], state: State) -> PromptOut:
    """The template with the text of ``version`` (old executions point to these)."""
    stored = await state.prompts.get(template_id, version)
    if stored is None:
        raise _not_found(template_id, version)
    [out] = await _out(stored)
    return out


@router.patch("/{template_id}", summary="Update a prompt template", responses={**NOT_FOUND, **CONFLICT})
async def update_prompt(template_id: UUID, body: PromptUpdate, state: State) -> PromptOut:
    """Change the fields given; a different text is validated and becomes the next version."""
    current = await state.prompts.get(template_id)
    if current is None:
        raise _not_found(template_id)
    given = body.model_fields_set
    kept = current.fields
    if "name" in given and body.name is None:
        raise _invalid("name", "name cannot be null; leave it out to keep the current name")
    if body.type is not None and body.type != kept.type:
        message = f"the template is a {kept.type!r} template and its type cannot change; create a new template"
        raise _invalid("type", message, body.type)
    fields = PromptFields(
        name=body.name or kept.name,
        type=kept.type,
        language=body.language or kept.language,
        strategy_id=body.strategy_id if "strategy_id" in given else kept.strategy_id,
        active=kept.active if body.active is None else body.active,
        is_default=kept.is_default if body.is_default is None else body.is_default,
        tags=kept.tags if body.tags is None else tuple(body.tags),
        notes=kept.notes if body.notes is None else body.notes,
    )
    text = body.text if body.text is not None else current.text
    if body.text is not None or fields.language != kept.language:
        await _refuse_invalid(text, fields.type, fields.language, state.render_limits)
    if fields.strategy_id != kept.strategy_id:
        await _ensure_strategy(state, fields.strategy_id)
    try:
        stored = await state.prompts.update(template_id, fields, text)
    except PromptNameTakenError as error:
        raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from error
    if stored is None:
        raise _not_found(template_id)
    [out] = await _out(stored)
    return out


@router.delete(
    "/{template_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a prompt template",
    responses={**NOT_FOUND, **CONFLICT},
)
async def delete_prompt(template_id: UUID, state: State) -> Response:
    """Delete a template and its versions; refused (409) while a strategy uses it."""
    try:
        deleted = await state.prompts.delete(template_id)
    except PromptInUseError as error:
        raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from error
    if not deleted:
        raise _not_found(template_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
