"""Render a template's text with a context, in the sandbox; errors name the template line."""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Any

from jinja2 import TemplateError as JinjaTemplateError
from jinja2 import TemplateSyntaxError

from tradelane.prompts.environment import ENVIRONMENT

MAX_TEMPLATE_CHARS = 50_000
TEMPLATE_FILENAME = "<template>"
"""The file name Jinja2 gives templates built from a string; traceback frames with it are template lines."""


class TemplateRenderError(ValueError):
    """A template could not be rendered; ``line`` is the template line at fault, when known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        where = f"line {line}: " if line is not None else ""
        super().__init__(f"{where}{message}")
        self.message = message
        self.line = line


def render(text: str, context: Mapping[str, Any]) -> str:
    """``text`` rendered with ``context``; raises :class:`TemplateRenderError` naming the line at fault."""
    try:
        template = ENVIRONMENT.from_string(text)
    except TemplateSyntaxError as error:
        raise TemplateRenderError(f"syntax error: {error.message}", error.lineno) from error
    try:
        return template.render(context)
    except JinjaTemplateError as error:
        raise TemplateRenderError(str(error.message or error), template_line(error.__traceback__)) from error
    except (TypeError, ValueError, ArithmeticError, LookupError) as error:
        raise TemplateRenderError(f"{type(error).__name__}: {error}", template_line(error.__traceback__)) from error


def template_line(traceback: TracebackType | None) -> int | None:
    """The innermost template line of a render error's traceback (Jinja2 maps frames to lines)."""
    line = None
    while traceback is not None:
        if traceback.tb_frame.f_code.co_filename == TEMPLATE_FILENAME:
            line = traceback.tb_lineno
        traceback = traceback.tb_next
    return line
