"""Run one render in a separate, killable process with a memory cap and a deadline.

Why a process and not only a thread: Jinja2's sandbox still lets a template start single C
operations of unbounded cost - ``'{:999999999}'.format(1)``, ``'x' | center(10 ** 9)``,
``[1] | batch(10 ** 9, 0)``, ``(10).to_bytes(10 ** 9)``... Such an operation does not return
to the sandbox's checks until it is done and does not release the GIL, so in a thread it
would stall the event loop too; and a thread cannot be stopped. The sandbox's cooperative
checks (:mod:`tradelane.prompts.limits`) end the known attacks at once with a clear message;
the process is what bounds the rest:

- its address space is capped at its size after start-up plus ``max_memory_bytes``
  (``RLIMIT_AS``), so a huge allocation fails with ``MemoryError`` inside it;
- it is killed once its start-up allowance, ``timeout_seconds`` and a short grace (for it to
  report its own deadline error) have passed, and ``RLIMIT_CPU`` stops it even if its parent
  cannot;
- it answers with plain JSON that the parent reads (never unpickled);
- it inherits none of the service's environment (database URL, API keys);
- at most one per CPU run at once per service process (others wait for a slot), so a burst
  of hostile templates costs at most that many CPUs and memory limits.

Each render starts a fresh interpreter (``python -m tradelane.prompts.worker``, which imports
only Jinja2 and this package's light modules; about 0.1 s on an idle machine). A fork of the service would
be faster but unsafe in a multi-threaded process, and ``multiprocessing``'s forkserver
re-imports the service's main module in every child.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tradelane.prompts.errors import TemplateLimitError, TemplateRenderError
from tradelane.prompts.limits import KILL_GRACE_SECONDS, RenderLimits

START_SECONDS = 5.0
"""How long the process may take to start (import Jinja2) on a busy machine before its deadline begins."""
WORKER = (sys.executable, "-m", "tradelane.prompts.worker")
_INHERITED_VARIABLES = ("PATH", "PYTHONPATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "SYSTEMROOT")
"""What the render process inherits of the environment: none of the service's settings or secrets."""
_SLOTS = threading.BoundedSemaphore(max(2, os.cpu_count() or 1))
"""Render processes that may run at once in this process."""
_SOURCE_ROOT = str(Path(__file__).resolve().parents[2])
"""The directory holding this ``tradelane.prompts``: the worker imports the same code as its parent."""


def run_isolated(text: str, context: Mapping[str, Any], limits: RenderLimits) -> str:
    """``text`` rendered with ``context`` by a fresh worker process; its result, or its error re-raised here."""
    try:
        request = pickle.dumps({"text": text, "context": dict(context), "limits": limits})
    except (pickle.PicklingError, TypeError, RecursionError) as error:
        msg = f"the template's variables cannot be passed to the render process ({type(error).__name__}: {error})"
        raise TemplateRenderError(msg) from error
    wait = START_SECONDS + limits.timeout_seconds + KILL_GRACE_SECONDS
    pipe = subprocess.PIPE
    environment = worker_environment(os.environ)
    with (
        _SLOTS,
        subprocess.Popen(WORKER, stdin=pipe, stdout=pipe, stderr=pipe, env=environment) as worker,  # noqa: S603 - no shell
    ):
        try:
            reply, errors = worker.communicate(request, timeout=wait)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.communicate()
            raise limits.too_slow() from None
    if worker.returncode != 0 or not reply:
        raise _stopped(worker.returncode, limits, errors)
    return _result(json.loads(reply))


def worker_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The render process's environment: what Python needs to start, none of the service's settings or secrets."""
    inherited = {name: environ[name] for name in _INHERITED_VARIABLES if name in environ}
    python_path = [_SOURCE_ROOT, *filter(None, inherited.get("PYTHONPATH", "").split(os.pathsep))]
    return inherited | {"PYTHONPATH": os.pathsep.join(python_path)}


def _stopped(returncode: int, limits: RenderLimits, errors: bytes) -> TemplateLimitError:
    """Why the render process ended without an answer: its memory, or a signal (its CPU limit, or a kill)."""
    if b"MemoryError" in errors:
        return TemplateLimitError("the template needs more memory than the render memory limit")
    memory = f"{limits.max_memory_bytes // (1024 * 1024)} MiB"
    msg = (
        f"the render process was stopped (exit code {returncode}) before it finished; the template needs more "
        f"than {limits.timeout_text()} of CPU or {memory} of memory (the render limits)"
    )
    return TemplateLimitError(msg)


def _result(outcome: Mapping[str, Any]) -> str:
    if "text" in outcome:
        return str(outcome["text"])
    line = outcome.get("line")
    error_type = TemplateLimitError if outcome.get("limit") else TemplateRenderError
    raise error_type(str(outcome["error"]), line if isinstance(line, int) else None)
