"""The zygote: ``python -m tradelane.prompts.zygote``, which forks a fresh render process for each request.

:mod:`tradelane.prompts.isolation` starts it as a fresh interpreter with the render
environment (none of the service's settings). It imports Jinja2 and the render modules once,
runs a single thread and never renders a template itself. For each request it reads on stdin
it forks a child, which caps its own CPU and memory, renders
(:func:`tradelane.prompts.worker.render_request`), writes its JSON outcome to a pipe of its own
and exits; the zygote waits for it until the request's deadline, kills it past that, and
writes back the child's JSON or why the child stopped. It exits when its stdin closes.

- a request: :data:`REQUEST` (how many seconds the child may run, then the pickle's length)
  followed by the pickled request, which only the child unpickles;
- a reply: :data:`REPLY` (the answer's length) followed by one JSON object, the child's
  outcome or ``{"stopped": reason}``: ``"deadline"``, ``"memory"``, ``"signal"`` (with
  ``"signal"``: its number) or ``"exit"`` (with ``"code"``: its exit code).
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import struct
import sys
import time
import traceback
from typing import NoReturn

import tradelane.prompts.values  # noqa: F401 - the context's value types, unpickled by every child: imported once here
from tradelane.prompts.worker import render_request

REQUEST = struct.Struct("!dI")
"""A request's header: the seconds its child may run before it is killed, and the length of the pickle that follows."""
REPLY = struct.Struct("!I")
"""A reply's header: the length of the JSON object that follows."""
MEMORY_EXIT_CODE = 3
"""How a child that ran out of memory outside the render (reading its request, writing its answer) exits."""
_CHUNK = 64 * 1024


def main() -> None:
    requests, replies = sys.stdin.buffer, sys.stdout.buffer
    while len(header := requests.read(REQUEST.size)) == REQUEST.size:
        seconds, length = REQUEST.unpack(header)
        request = requests.read(length)
        if len(request) < length:
            return
        answer = serve(request, seconds)
        try:
            replies.write(REPLY.pack(len(answer)) + answer)
            replies.flush()
        except BrokenPipeError:  # the service is gone
            return


def serve(request: bytes, seconds: float) -> bytes:
    """The JSON answer to one request: the outcome of a child that renders it, or why that child stopped."""
    deadline = time.monotonic() + seconds
    readable, writable = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(readable)
        _render_and_exit(request, writable)
    os.close(writable)
    try:
        answer = _read_until_closed(readable, deadline)
    finally:
        os.close(readable)
    status = _exit_status(pid, deadline) if answer is not None else None
    if status is None:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        return _stopped("deadline")
    code = os.waitstatus_to_exitcode(status)
    if code == 0 and answer:
        return answer
    if code == MEMORY_EXIT_CODE:
        return _stopped("memory")
    if code < 0:
        return _stopped("signal", signal=-code)
    return _stopped("exit", code=code)


def _render_and_exit(request: bytes, answers: int) -> NoReturn:
    """In the child: render ``request``, write the outcome to ``answers`` and exit, never returning to the zygote."""
    code = 1
    try:
        quiet = os.open(os.devnull, os.O_RDWR)
        os.dup2(quiet, 0)  # the zygote's request and reply pipes are its own
        os.dup2(quiet, 1)
        answer = render_request(request)
        while answer:
            answer = answer[os.write(answers, answer) :]
        code = 0
    except MemoryError:
        code = MEMORY_EXIT_CODE
    except BaseException:  # a bug of ours, not the template's (render_request reports those): say where
        traceback.print_exc()
    finally:
        os._exit(code)  # whatever happened above, the child never returns to the zygote's loop


def _read_until_closed(fd: int, deadline: float) -> bytes | None:
    """Everything written to ``fd`` until its writer closes it, or None if the deadline comes first."""
    chunks: list[bytes] = []
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not selector.select(remaining):
                return None
            chunk = os.read(fd, _CHUNK)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)


def _exit_status(pid: int, deadline: float) -> int | None:
    """The wait status of child ``pid`` once it has exited, or None if it is still running at the deadline."""
    while True:
        exited, status = os.waitpid(pid, os.WNOHANG)
        if exited:
            return status
        if time.monotonic() > deadline:
            return None
        time.sleep(0.001)


def _stopped(reason: str, **details: int) -> bytes:
    return json.dumps({"stopped": reason, **details}).encode()


if __name__ == "__main__":
    main()
