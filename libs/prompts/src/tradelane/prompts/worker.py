"""The render process: ``python -m tradelane.prompts.worker`` (started by :mod:`tradelane.prompts.isolation`).

It reads one pickled request (template text, context, limits) from stdin, caps its own
address space and CPU time, renders with :func:`~tradelane.prompts.bounded.render_here`,
and writes the outcome to stdout as one JSON object: ``{"text": ...}`` or
``{"error": ..., "line": ..., "limit": ...}``.
"""

from __future__ import annotations

import json
import math
import os
import pickle
import resource
import sys
from typing import Any

from tradelane.prompts.bounded import render_here, template_line
from tradelane.prompts.errors import TemplateLimitError, TemplateRenderError
from tradelane.prompts.limits import KILL_GRACE_SECONDS, RenderLimits

MEMORY_ERROR = "the template needs more memory than the render memory limit"


def main() -> None:
    request = pickle.loads(sys.stdin.buffer.read())  # noqa: S301 - written by our own parent process
    text: str = request["text"]
    context: dict[str, Any] = request["context"]
    limits: RenderLimits = request["limits"]
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
    sys.stdout.buffer.write(json.dumps(outcome).encode())
    sys.stdout.buffer.flush()


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


if __name__ == "__main__":
    main()
