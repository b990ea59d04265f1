"""Child processes that do not outlive their parent, even one killed outright.

``tradelane up`` (and the test suite) start the servers and services in sessions of their
own, so that Ctrl-C reaches only the parent, which stops them in order. The price is that
nothing stops them any more if the parent is killed with no chance to clean up (``kill -9``,
a crashed test runner): they would run on, holding the gateway's port and the NATS port.
On Linux the kernel can send a child a signal when its parent dies; this asks it to.
"""

from __future__ import annotations

import ctypes
import signal
import sys
from collections.abc import Callable

PR_SET_PDEATHSIG = 1


def _prctl() -> Callable[[int, int], int] | None:
    if sys.platform != "linux":
        return None
    # resolved here, in the parent: the child, between fork and exec, only makes the call
    prctl: Callable[[int, int], int] = ctypes.CDLL(None, use_errno=True).prctl
    return prctl


_PRCTL = _prctl()


def terminate_with_parent() -> None:
    """``preexec_fn`` of a child that should get SIGTERM when its parent dies (Linux; elsewhere nothing).

    The kernel ties this to the thread that started the child: start it from the thread that
    lives as long as the parent (the event loop's).
    """
    if _PRCTL is not None:
        _PRCTL(PR_SET_PDEATHSIG, signal.SIGTERM)
