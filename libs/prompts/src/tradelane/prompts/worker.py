"""What one render process does: read its request, cap its own CPU and memory, render, answer in JSON.

The zygote (:mod:`tradelane.prompts.zygote`) forks a fresh process for each request and calls
:func:`render_request` in it: the pickled request (template text, context, limits) in, one JSON
object out: ``{"text": ...}`` or ``{"error": ..., "line": ..., "limit": ...}``. The process
then exits, so nothing a template does outlives its render.
"""

from __future__ import annotations

import json
import math
import os
import pickle
import resource
from typing import Any

from tradelane.prompts.bounded import render_here, template_line
from tradelane.prompts.errors import TemplateLimitError, TemplateRenderError
from tradelane.prompts.limits import KILL_GRACE_SECONDS, RenderLimits

MEMORY_ERROR = "the template needs more memory than the render memory limit"


def render_request(request: bytes) -> bytes:
    """The outcome of the pickled ``request`` as JSON, rendered in this process once it has capped its resources."""
    loaded = pickle.loads(request)  # noqa: S301 - written by our own service process
    text: str = loaded["text"]
    context: dict[str, Any] = loaded["context"]
    limits: RenderLimits = loaded["limits"]
    cap_resources(limits)
    try:
        outcome: dict[str, Any] = {"text": render_here(text, context, limits)}
    except TemplateRenderError as error:
        outcome = {"error": error.message, "line": error.line, "limit": isinstance(error, TemplateLimitError)}
    except MemoryError:
        outcome = {"error": MEMORY_ERROR, "line": None, "limit": True}
    except Exception as error:  # whatever else a template raises is the template's fault, reported as such
        line = template_line(error.__traceback__)
        outcome = {"error": f"{type(error).__name__}: {error}", "line": line, "limit": False}
    return json.dumps(outcome).encode()


def cap_resources(limits: RenderLimits) -> None:
    """Cap this process's CPU time, and its address space at its current size plus the memory limit.

    The memory cap needs Linux's ``/proc`` (macOS does not enforce ``RLIMIT_AS``); elsewhere
    only the CPU time and the parent's deadline bound the render.
    """
    _lower(resource.RLIMIT_CPU, math.ceil(limits.timeout_seconds + KILL_GRACE_SECONDS))
    try:
        with open("/proc/self/statm") as statm:  # noqa: PTH123 - one read of a proc file
            size = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return
    _lower(resource.RLIMIT_AS, size + limits.max_memory_bytes)


def _lower(kind: int, value: int) -> None:
    """Set the soft and hard limit ``kind`` to ``value``, never above a hard limit already lower."""
    _, hard = resource.getrlimit(kind)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(kind, (value, value))
