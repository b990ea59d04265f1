"""Run one render in a separate, killable process with a memory cap and a deadline.

Why a process and not only a thread: Jinja2's sandbox still lets a template start single C
operations of unbounded cost - ``'{:999999999}'.format(1)``, ``'x' | center(10 ** 9)``,
``[1] | batch(10 ** 9, 0)``, ``(10).to_bytes(10 ** 9)``... Such an operation does not return
to the sandbox's checks until it is done and does not release the GIL, so in a thread it
would stall the event loop too; and a thread cannot be stopped. The sandbox's cooperative
checks (:mod:`tradelane.prompts.limits`) end the known attacks at once with a clear message;
the process is what bounds the rest:

- its address space is capped at its size when it starts plus ``max_memory_bytes``
  (``RLIMIT_AS``), so a huge allocation fails with ``MemoryError`` inside it;
- it is killed once a start allowance, ``timeout_seconds`` and a short grace (for it to report
  its own deadline error) have passed, and ``RLIMIT_CPU`` stops it even if nothing else can;
- it answers with plain JSON that the service reads (never unpickled);
- it inherits none of the service's environment (database URL, API keys);
- at most one per CPU run at once per service process (others wait for a slot), so a burst
  of hostile templates costs at most that many CPUs and memory limits.

Each render process is forked, one per render, by a zygote (:mod:`tradelane.prompts.zygote`):
a long-lived helper started as a fresh interpreter (``python -m tradelane.prompts.zygote``)
with the render environment, which imports only Jinja2 and this package's render modules (with
the contracts they use), runs a single thread and never renders a template itself. So each
render still runs in a process of its own that exits after it, and nothing a template does
reaches the next render, but without the interpreter start and imports of a fresh process per
render (about 0.15 CPU s; a fork costs a few milliseconds). The service itself is never forked:
it is multi-threaded, which makes a fork of it unsafe, and ``multiprocessing``'s forkserver
would re-import its main module in every child.

The service keeps one zygote per slot, started on first use. A zygote that dies is replaced
(the render it was serving is tried once more with a new one); one that does not answer in
time is killed with its render process, and the render fails with the time limit's error.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import pickle
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tradelane.prompts.errors import TemplateLimitError, TemplateRenderError
from tradelane.prompts.limits import KILL_GRACE_SECONDS, RenderLimits
from tradelane.prompts.worker import MEMORY_ERROR
from tradelane.prompts.zygote import REPLY, REQUEST

START_SECONDS = 5.0
"""How long a zygote may take to start (import Jinja2) on a busy machine, on top of a render's own time."""
FORK_SECONDS = 1.0
"""How long a forked render process may take to read its request before its deadline begins."""
ZYGOTE = (sys.executable, "-m", "tradelane.prompts.zygote")
_INHERITED_VARIABLES = ("PATH", "PYTHONPATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "SYSTEMROOT")
"""What the render process inherits of the environment: none of the service's settings or secrets."""
_SLOTS = max(2, os.cpu_count() or 1)
"""Render processes that may run at once in this process (each from a zygote of its own)."""
_SOURCE_ROOT = str(Path(__file__).resolve().parents[2])
"""The directory holding this ``tradelane.prompts``: the zygote imports the same code as its parent."""
_CHUNK = 64 * 1024


class ZygoteGoneError(Exception):
    """The zygote exited (or was killed) before it answered; ``returncode`` is its exit code."""

    def __init__(self, returncode: int) -> None:
        super().__init__(f"the zygote exited with code {returncode}")
        self.returncode = returncode


class Zygote:
    """One zygote process and the pipes to it; used by one thread at a time."""

    def __init__(self) -> None:
        pipe = subprocess.PIPE
        self._process = subprocess.Popen(  # noqa: S603 - no shell
            ZYGOTE,
            stdin=pipe,
            stdout=pipe,
            env=worker_environment(os.environ),
            start_new_session=True,  # its render processes share its process group: one kill stops them all
            bufsize=0,
        )
        assert self._process.stdin is not None and self._process.stdout is not None
        self._requests, self._replies = self._process.stdin, self._process.stdout
        os.set_blocking(self._requests.fileno(), False)  # writes wait in a selector, with the deadline

    @property
    def pid(self) -> int:
        return self._process.pid

    def alive(self) -> bool:
        return self._process.poll() is None

    def ask(self, request: bytes, seconds: float, wait: float) -> dict[str, Any]:
        """The zygote's JSON answer to ``request``, whose render process it kills after ``seconds``.

        Raises :class:`TimeoutError` when no answer has come after ``wait`` seconds, and
        :class:`ZygoteGoneError` when the zygote is gone; either way the zygote is stopped.
        """
        deadline = time.monotonic() + wait
        try:
            self._send(REQUEST.pack(seconds, len(request)) + request, deadline)
            (length,) = REPLY.unpack(self._receive(REPLY.size, deadline))
            answer: dict[str, Any] = json.loads(self._receive(length, deadline))
        except (BrokenPipeError, EOFError):
            raise ZygoteGoneError(self.stop()) from None
        except BaseException:
            self.stop()
            raise
        return answer

    def stop(self) -> int:
        """Kill the zygote and its render process, if still running; its exit code."""
        if self._process.returncode is None:
            with contextlib.suppress(ProcessLookupError):  # before it is reaped, its group cannot be another's
                os.killpg(self._process.pid, signal.SIGKILL)
        returncode = self._process.wait()
        self._requests.close()
        self._replies.close()
        return returncode

    def _send(self, data: bytes, deadline: float) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self._requests, selectors.EVENT_WRITE)
            while data:
                _wait_for(selector, deadline)
                data = data[os.write(self._requests.fileno(), data) :]

    def _receive(self, size: int, deadline: float) -> bytes:
        chunks: list[bytes] = []
        with selectors.DefaultSelector() as selector:
            selector.register(self._replies, selectors.EVENT_READ)
            while size:
                _wait_for(selector, deadline)
                chunk = os.read(self._replies.fileno(), min(size, _CHUNK))
                if not chunk:
                    raise EOFError
                chunks.append(chunk)
                size -= len(chunk)
        return b"".join(chunks)


class ZygotePool:
    """At most ``slots`` zygotes, each serving one render at a time: started on first use, replaced once stopped."""

    def __init__(self, slots: int) -> None:
        self._slots = threading.BoundedSemaphore(slots)
        self._lock = threading.Lock()
        self._idle: list[Zygote] = []

    def ask(self, request: bytes, seconds: float, wait: float) -> dict[str, Any]:
        """A zygote's answer to ``request`` (see :meth:`Zygote.ask`), once a slot is free."""
        with self._slots:
            try:
                return self._ask_one(request, seconds, wait)
            except ZygoteGoneError:  # killed or crashed, idle or not: once more with a new one
                return self._ask_one(request, seconds, wait)

    def pids(self) -> list[int]:
        """The process ids of the idle zygotes."""
        with self._lock:
            return [zygote.pid for zygote in self._idle]

    def close(self) -> None:
        """Stop the idle zygotes; a busy one comes back when its render is done (and exits with this process)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for zygote in idle:
            zygote.stop()

    def _ask_one(self, request: bytes, seconds: float, wait: float) -> dict[str, Any]:
        zygote = self._take()
        answer = zygote.ask(request, seconds, wait)
        with self._lock:
            self._idle.append(zygote)
        return answer

    def _take(self) -> Zygote:
        with self._lock:
            while self._idle:
                zygote = self._idle.pop()
                if zygote.alive():
                    return zygote
                zygote.stop()
        return Zygote()


_POOL = ZygotePool(_SLOTS)
atexit.register(_POOL.close)


def run_isolated(text: str, context: Mapping[str, Any], limits: RenderLimits, pool: ZygotePool = _POOL) -> str:
    """``text`` rendered with ``context`` in a process forked by a zygote of ``pool``; its result, or its error."""
    try:
        request = pickle.dumps({"text": text, "context": dict(context), "limits": limits})
    except (pickle.PicklingError, TypeError, RecursionError) as error:
        msg = f"the template's variables cannot be passed to the render process ({type(error).__name__}: {error})"
        raise TemplateRenderError(msg) from error
    seconds = FORK_SECONDS + limits.timeout_seconds + KILL_GRACE_SECONDS
    try:
        outcome = pool.ask(request, seconds, wait=START_SECONDS + seconds)
    except TimeoutError:
        raise limits.too_slow() from None
    except ZygoteGoneError as gone:
        raise _stopped(gone.returncode, limits) from None
    return _result(outcome, limits)


def worker_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The render processes' environment: what Python needs to start, none of the service's settings or secrets."""
    inherited = {name: environ[name] for name in _INHERITED_VARIABLES if name in environ}
    python_path = [_SOURCE_ROOT, *filter(None, inherited.get("PYTHONPATH", "").split(os.pathsep))]
    return inherited | {"PYTHONPATH": os.pathsep.join(python_path)}


def _wait_for(selector: selectors.BaseSelector, deadline: float) -> None:
    remaining = deadline - time.monotonic()
    if remaining <= 0 or not selector.select(remaining):
        raise TimeoutError


def _stopped(returncode: int, limits: RenderLimits) -> TemplateLimitError:
    """Why the render process ended without an answer: a signal (its CPU limit, or a kill), or an exit code."""
    memory = f"{limits.max_memory_bytes // (1024 * 1024)} MiB"
    msg = (
        f"the render process was stopped (exit code {returncode}) before it finished; the template needs more "
        f"than {limits.timeout_text()} of CPU or {memory} of memory (the render limits)"
    )
    return TemplateLimitError(msg)


def _result(outcome: Mapping[str, Any], limits: RenderLimits) -> str:
    stopped = outcome.get("stopped")
    if stopped == "deadline":
        raise limits.too_slow()
    if stopped == "memory":
        raise TemplateLimitError(MEMORY_ERROR)
    if stopped == "signal":
        raise _stopped(-int(outcome["signal"]), limits)
    if stopped is not None:
        raise _stopped(int(outcome["code"]), limits)
    if "text" in outcome:
        return str(outcome["text"])
    line = outcome.get("line")
    error_type = TemplateLimitError if outcome.get("limit") else TemplateRenderError
    raise error_type(str(outcome["error"]), line if isinstance(line, int) else None)
