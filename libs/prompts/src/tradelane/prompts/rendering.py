"""Render a template's text with a context, in the sandbox and within limits; errors name the template line.

:func:`render` (and :func:`render_async`, for event loops) runs the render in a separate
process (:mod:`tradelane.prompts.isolation`) so that no template can hold the caller's CPU,
memory or event loop, whatever it does; inside it, :func:`~tradelane.prompts.bounded.render_here`
renders with the sandbox's cooperative checks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from tradelane.prompts.errors import TemplateLimitError, TemplateRenderError
from tradelane.prompts.isolation import run_isolated
from tradelane.prompts.limits import DEFAULT_LIMITS, RenderLimits

__all__ = [
    "DEFAULT_LIMITS",
    "MAX_TEMPLATE_CHARS",
    "RenderLimits",
    "TemplateLimitError",
    "TemplateRenderError",
    "render",
    "render_async",
]

MAX_TEMPLATE_CHARS = 50_000


def render(text: str, context: Mapping[str, Any], limits: RenderLimits = DEFAULT_LIMITS) -> str:
    """``text`` rendered with ``context`` in a separate process, within ``limits``.

    Blocks the calling thread for at most about ``limits.timeout_seconds`` (plus the process
    start); raises :class:`TemplateRenderError` naming the line at fault, or
    :class:`TemplateLimitError` naming the limit exceeded.
    """
    return run_isolated(text, context, limits)


async def render_async(text: str, context: Mapping[str, Any], limits: RenderLimits = DEFAULT_LIMITS) -> str:
    """:func:`render` from a worker thread, so that the event loop keeps serving while it runs."""
    return await asyncio.to_thread(render, text, context, limits)
