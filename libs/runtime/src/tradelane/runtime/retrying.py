"""The one backoff policy of tradelane, and the retry loop built on it.

Every place that waits before trying again (the IB reconnection, an IB event the broker's book
could not take yet, the LLM client, the CLI's restart of a dead process, JetStream's
redelivery delay) computes its wait with :class:`Backoff`: capped exponential steps
(``initial``, ``2 * initial``, ``4 * initial``... at most ``cap``), each scaled by a random
jitter so that the clients of one outage do not retry in step. Each place keeps its own
numbers (first delay, cap, jitter, which errors are worth another try, when to give up).

A loop that tries a call again is :func:`retry`, on tenacity's ``AsyncRetrying``. Tenacity
rather than stamina: the loops need their own wait strategies (a server's ``Retry-After``
beats the backoff), give-up predicates that look at the coming wait (a delivery's time budget),
an injected sleep (a fake clock in tests, a sleep cut short by a shutdown) and no process-wide
switch; stamina fixes the shape of the wait (additive jitter in seconds) and turns retries off
for tests globally, while tenacity is the set of parts stamina is built from. Only this module
imports tenacity: callers pass plain functions of the failure count, the error and the wait.

A loop that is not a retry of one call (JetStream redelivers a message later; the CLI restarts
a process that may run for hours) uses :meth:`Backoff.delay` alone.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]
Wait = Callable[[int, BaseException], float]
"""Seconds to wait after the ``n``-th failure in a row, which raised this error."""
GiveUp = Callable[[int, float], bool]
"""After the ``n``-th failure, with this wait coming: stop trying (the error is raised)."""
OnRetry = Callable[[int, BaseException, float], None]
"""Called before each wait with the failure count, the error and the wait (to log it, or to say when)."""

_MAX_EXPONENT = 62
"""Beyond this many doublings every step is at the cap anyway; the bound keeps ``2.0 ** n`` finite."""


@dataclass(frozen=True)
class Backoff:
    """Capped exponential backoff with jitter.

    The wait after the ``n``-th failure in a row is ``min(cap, initial * 2 ** (n - 1))``,
    shortened by up to ``jitter_below`` of itself and lengthened by up to ``jitter_above``,
    uniformly at random.
    """

    initial: float
    cap: float
    jitter_below: float = 0.0
    """The largest share of a step a wait may be shorter by (0.2: between 80 % and 100 %)."""
    jitter_above: float = 0.0
    """The largest share of a step a wait may be longer by."""

    def step(self, failures: int) -> float:
        """The un-jittered wait after ``failures`` failures in a row (at least one counts)."""
        exponent = min(max(failures, 1) - 1, _MAX_EXPONENT)
        return min(self.cap, self.initial * 2.0**exponent)

    def delay(self, failures: int, rand: Callable[[], float] = random.random) -> float:
        """The wait after ``failures`` failures in a row; ``rand()`` in [0, 1] picks the jitter (0: the longest)."""
        spread = self.jitter_below + self.jitter_above
        return self.step(failures) * (1 + self.jitter_above - spread * rand())

    def shortest(self, failures: int) -> float:
        """The shortest wait the jitter allows after ``failures`` failures."""
        return self.step(failures) * (1 - self.jitter_below)


def _never(failures: int, wait: float) -> bool:
    return False


async def retry(
    attempt: Callable[[int], Awaitable[T]],
    *,
    wait: Backoff | Wait,
    retry_on: type[BaseException] | tuple[type[BaseException], ...] = Exception,
    give_up: GiveUp = _never,
    on_retry: OnRetry | None = None,
    sleep: Sleep = asyncio.sleep,
) -> T:
    """Await ``attempt(1)``, ``attempt(2)``... until one returns, and return what it returned.

    An attempt that raises one of ``retry_on`` is tried again after ``wait`` (a :class:`Backoff`,
    or a function of the failure count and the error), unless ``give_up`` says so, and then
    its error is raised as it is, never wrapped. Any other error is raised at once.
    """

    def wait_for(state: RetryCallState) -> float:
        if isinstance(wait, Backoff):
            return wait.delay(state.attempt_number)
        return wait(state.attempt_number, _failure(state))

    def before_sleep(state: RetryCallState) -> None:
        if on_retry is not None:
            on_retry(state.attempt_number, _failure(state), state.upcoming_sleep)

    retrying = AsyncRetrying(
        wait=wait_for,
        stop=lambda state: give_up(state.attempt_number, state.upcoming_sleep),
        retry=retry_if_exception_type(retry_on),
        before_sleep=before_sleep,
        sleep=sleep,
        reraise=True,
    )
    async for trial in retrying:
        with trial:
            return await attempt(trial.retry_state.attempt_number)
    raise AssertionError("unreachable: tenacity ends its loop with the attempt's result or its error")


def _failure(state: RetryCallState) -> BaseException:
    """The error of the attempt that just failed (tenacity only retries on one here)."""
    error = state.outcome.exception() if state.outcome is not None else None
    if error is None:
        raise AssertionError("a retry without an error: retry() retries on exceptions only")
    return error
