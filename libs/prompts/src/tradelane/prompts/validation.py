"""Check a template before it is saved: syntax, undefined variables, and a trial render.

1. The text must not be empty nor longer than ``MAX_TEMPLATE_CHARS``.
2. It must parse (a syntax error names its line).
3. Every variable it reads must be one of :data:`~tradelane.prompts.variables.VARIABLES`, a
   Jinja2 global (``range``, ``dict``, ``namespace``...) or set by the template itself (each
   unknown name is reported with the first line that reads it).
4. It must render with :func:`~tradelane.prompts.context.sample_context` of its type; this
   catches a misspelt attribute (``bar_summary.chnage``) or a filter used on the wrong value,
   with its line. A missing indicator key is not an error: it reads as none. The trial render
   runs within the render limits (:class:`~tradelane.prompts.limits.RenderLimits`): one that
   exceeds them is a ``limit`` problem naming the limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from jinja2 import TemplateSyntaxError, meta, nodes

from tradelane.prompts.context import sample_context
from tradelane.prompts.environment import ENVIRONMENT
from tradelane.prompts.kinds import Language, TemplateType
from tradelane.prompts.rendering import (
    DEFAULT_LIMITS,
    MAX_TEMPLATE_CHARS,
    RenderLimits,
    TemplateLimitError,
    TemplateRenderError,
    render,
)
from tradelane.prompts.variables import VARIABLE_NAMES

NESTED_TOO_DEEPLY = "syntax error: expressions or blocks are nested too deeply; split them up"

ProblemKind = Literal["empty", "too_long", "syntax", "undefined_variable", "render", "limit"]


@dataclass(frozen=True)
class TemplateProblem:
    """What is wrong with a template, and where."""

    kind: ProblemKind
    message: str
    line: int | None = None
    name: str | None = None
    """The undefined variable, for ``undefined_variable``."""

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line is not None else self.message


def validate(
    text: str,
    template_type: TemplateType = "analysis",
    language: Language = "en",
    limits: RenderLimits = DEFAULT_LIMITS,
) -> list[TemplateProblem]:
    """Every problem of ``text`` as a template of ``template_type``; empty when it is fine.

    Blocks for as long as the trial render (at most about ``limits.timeout_seconds``); call it
    from a worker thread in an event loop.
    """
    if not text.strip():
        return [TemplateProblem("empty", "the template is empty; write the prompt text")]
    if len(text) > MAX_TEMPLATE_CHARS:
        message = f"the template has {len(text)} characters; at most {MAX_TEMPLATE_CHARS}"
        return [TemplateProblem("too_long", message)]
    try:
        undefined = _undefined_variables(ENVIRONMENT.parse(text))
    except TemplateSyntaxError as error:
        return [TemplateProblem("syntax", f"syntax error: {error.message}", error.lineno)]
    except RecursionError:
        return [TemplateProblem("syntax", NESTED_TOO_DEEPLY)]
    if undefined:
        return undefined
    return _trial_render(text, template_type, language, limits)


def _trial_render(
    text: str, template_type: TemplateType, language: Language, limits: RenderLimits
) -> list[TemplateProblem]:
    try:
        render(text, sample_context(template_type, language), limits)
    except TemplateLimitError as error:
        return [TemplateProblem("limit", error.message, error.line)]
    except TemplateRenderError as error:
        return [TemplateProblem("render", error.message, error.line)]
    return []


def variables_used(text: str) -> list[str]:
    """The catalogue variables ``text`` reads, sorted (empty when it does not parse)."""
    try:
        return sorted(meta.find_undeclared_variables(ENVIRONMENT.parse(text)) & VARIABLE_NAMES)
    except (TemplateSyntaxError, RecursionError):
        return []


def _undefined_variables(tree: nodes.Template) -> list[TemplateProblem]:
    unknown = meta.find_undeclared_variables(tree) - VARIABLE_NAMES - set(ENVIRONMENT.globals)
    first_line: dict[str, int] = {}
    for name in tree.find_all(nodes.Name):
        if name.name in unknown and name.ctx == "load":
            first_line[name.name] = min(first_line.get(name.name, name.lineno), name.lineno)
    return [
        TemplateProblem(
            "undefined_variable",
            f"undefined variable '{name}': it is not a template variable, and the template does not set it",
            first_line.get(name),
            name,
        )
        for name in sorted(unknown, key=lambda item: (first_line.get(item, 0), item))
    ]
