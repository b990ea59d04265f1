"""Virtual time for code that takes a clock and a sleep, such as the IB pacing limiter.

``PacingLimiter(rules, clock=clock, sleep=clock.sleep)`` then waits in virtual seconds: a
sleeper wakes only when the test moves time past its deadline, either by hand
(``clock.advance(0.3)``) or by ``await clock.run(work)``, which lets every task run until all
are asleep and then jumps to the earliest wake-up. Pacing tests thus take no wall time and
can assert exact instants instead of wall-clock bounds with slack.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")

SETTLE_ITERATIONS = 50
"""Event-loop turns given to ready tasks before time moves on: enough for a chain of lock and
semaphore hand-offs to reach its next sleep, and no wall time at all."""


class FakeClock:
    """A monotonic clock that only moves when the test says so; call it for the time (the limiter's ``clock``)."""

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def __call__(self) -> float:
        return self._now

    @property
    def sleeping(self) -> int:
        """How many sleeps are waiting for time to move."""
        return sum(1 for _, _, woken in self._sleepers if not woken.done())

    async def sleep(self, seconds: float) -> None:
        """Wait until the clock reaches now + ``seconds`` (the limiter's ``sleep``)."""
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        woken = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + seconds, next(self._order), woken))
        await woken

    def advance(self, seconds: float) -> None:
        """Move the clock ``seconds`` forward, waking every sleep that is due by then."""
        self._move_to(self._now + seconds)

    async def run(self, work: Awaitable[T]) -> T:
        """Run ``work`` to its end, moving time to the next wake-up whenever every task is asleep."""
        task = asyncio.ensure_future(work)
        while True:
            for _ in range(SETTLE_ITERATIONS):
                if task.done():
                    return task.result()
                await asyncio.sleep(0)
            self._drop_cancelled()
            if not self._sleepers:
                continue  # waiting on something other than this clock: give it more turns
            self._move_to(self._sleepers[0][0])

    def _move_to(self, instant: float) -> None:
        self._now = max(self._now, instant)
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, woken = heapq.heappop(self._sleepers)
            if not woken.done():
                woken.set_result(None)

    def _drop_cancelled(self) -> None:
        while self._sleepers and self._sleepers[0][2].done():
            heapq.heappop(self._sleepers)
