"""Render in this process with the sandbox's cooperative limits: what the render process runs.

:func:`render_here` streams the output through ``generate()``, counting characters and
checking the deadline as it goes, while the sandbox checks it at every call, operator and
loop step. These checks end the known attacks quickly with a clear message, but a single
long operation inside a filter is only stopped by the render process's own limits: user
templates go through :func:`tradelane.prompts.rendering.render`, never straight here.
This module stays free of ``asyncio`` and ``subprocess`` so the zygote that forks render processes starts fast.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Any

from jinja2 import TemplateError as JinjaTemplateError
from jinja2 import TemplateSyntaxError

from tradelane.prompts.environment import ENVIRONMENT
from tradelane.prompts.errors import TemplateLimitError, TemplateRenderError
from tradelane.prompts.limits import DEFAULT_LIMITS, Budget, RenderLimits, activate, deactivate

TEMPLATE_FILENAME = "<template>"
"""The file name Jinja2 gives templates built from a string; traceback frames with it are template lines."""


def render_here(text: str, context: Mapping[str, Any], limits: RenderLimits = DEFAULT_LIMITS) -> str:
    """``text`` rendered in this process within the cooperative limits (see the module docstring)."""
    budget = Budget(limits)
    token = activate(budget)
    try:
        return _render(text, context, budget)
    finally:
        deactivate(token)


def _render(text: str, context: Mapping[str, Any], budget: Budget) -> str:
    try:
        template = ENVIRONMENT.from_string(text)
    except TemplateSyntaxError as error:
        raise TemplateRenderError(f"syntax error: {error.message}", error.lineno) from error
    except (RecursionError, MemoryError) as error:
        raise _resource_error(error, None) from error
    chunks = []
    try:
        for chunk in template.generate(context):
            budget.count_output(len(chunk))
            _ensure_encodable(chunk)
            chunks.append(chunk)
    except TemplateLimitError as error:
        raise TemplateLimitError(error.message, template_line(error.__traceback__)) from None
    except TemplateRenderError:
        raise
    except JinjaTemplateError as error:
        raise TemplateRenderError(str(error.message or error), template_line(error.__traceback__)) from error
    except (RecursionError, MemoryError) as error:
        raise _resource_error(error, template_line(error.__traceback__)) from error
    except (TypeError, ValueError, ArithmeticError, LookupError, AttributeError) as error:
        raise TemplateRenderError(f"{type(error).__name__}: {error}", template_line(error.__traceback__)) from error
    return "".join(chunks)


def _ensure_encodable(chunk: str) -> None:
    """Refuse output that is not valid Unicode (a lone surrogate such as ``'\\ud800'``): no API or model takes it."""
    if chunk.isascii():
        return
    try:
        chunk.encode()
    except UnicodeEncodeError as error:
        character = chunk[error.start].encode("unicode_escape").decode()
        msg = f"the template prints {character}, a lone surrogate that is not a valid character; remove it"
        raise TemplateRenderError(msg) from error


def _resource_error(error: RecursionError | MemoryError, line: int | None) -> TemplateLimitError:
    if isinstance(error, RecursionError):
        return TemplateLimitError("the template recurses too deeply (a macro or loop that calls itself)", line)
    return TemplateLimitError("the template needs more memory than the render memory limit", line)


def template_line(traceback: TracebackType | None) -> int | None:
    """The innermost template line of a render error's traceback (Jinja2 maps frames to lines)."""
    line = None
    while traceback is not None:
        if traceback.tb_frame.f_code.co_filename == TEMPLATE_FILENAME:
            line = traceback.tb_lineno
        traceback = traceback.tb_next
    return line
