"""IB's pacing rules, enforced for every request this process sends, by one shared limiter.

IB refuses (with a pacing violation) requests that break any of these rules, from
https://www.interactivebrokers.com/campus/ibkr-api-page/historical-limitations/:

* more than 60 historical data requests within any ten minutes (BID_ASK counts twice);
* identical historical requests within 15 seconds;
* six or more historical requests for the same contract, exchange and tick type within two seconds;
* more than 50 simultaneous open historical requests;
* more than 50 messages per second from one client.

The limiter keeps every rule by waiting, never by dropping: a request that would break one
sleeps until it would not, and says so in the log. Waits longer than ``max_wait`` raise
:class:`PacingDelayError` instead, so a pipeline step can be nak'ed with that delay rather
than hold its message past the ack deadline. ``ib_async``'s own throttle (45 messages/s)
sits underneath and is stricter still, so the message cap here is a ceiling, not the pace.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import structlog

log = structlog.get_logger(__name__)

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class PacingRules:
    """The limits; the defaults are IB's."""

    historical_requests: int = 60
    historical_window: float = 600.0
    identical_gap: float = 15.0
    same_contract_requests: int = 5
    """IB calls six or more within the window a violation, so five is the most."""
    same_contract_window: float = 2.0
    max_in_flight: int = 50
    messages_per_second: int = 50
    violation_pause: float = 15.0
    """How long historical requests pause after IB reports a pacing violation anyway."""
    max_wait: float = 30.0


@dataclass(frozen=True)
class HistoricalRequest:
    """What makes two historical requests identical in IB's eyes."""

    conid: int
    exchange: str
    what_to_show: str
    bar_size: str
    duration: str
    end: str
    use_rth: bool

    @property
    def contract_key(self) -> tuple[int, str, str]:
        """Contract, exchange and tick type: the key of IB's "six within two seconds" rule."""
        return (self.conid, self.exchange, self.what_to_show)

    @property
    def weight(self) -> int:
        """How many requests IB counts it as: BID_ASK counts twice."""
        return 2 if self.what_to_show == "BID_ASK" else 1

    def describe(self) -> str:
        return (
            f"{self.bar_size} {self.what_to_show} bars of conid {self.conid} on {self.exchange}"
            f" over {self.duration} to {self.end or 'now'}"
        )


class PacingDelayError(Exception):
    """Pacing would hold the request longer than the caller may wait; ask again after ``retry_after`` seconds."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass
class SlidingWindow:
    """At most ``limit`` (weighted) events in any ``span`` seconds."""

    limit: int
    span: float
    _events: deque[tuple[float, int]] = field(default_factory=deque)

    def count(self, now: float) -> int:
        self._expire(now)
        return sum(weight for _, weight in self._events)

    def wait(self, now: float, weight: int = 1) -> float:
        """Seconds until ``weight`` more events fit (0 when they fit now)."""
        self._expire(now)
        excess = sum(w for _, w in self._events) + min(weight, self.limit) - self.limit
        if excess <= 0:
            return 0.0
        freed = 0
        for at, w in self._events:
            freed += w
            if freed >= excess:
                return at + self.span - now
        return self.span  # pragma: no cover - the loop frees every event first

    def add(self, now: float, weight: int = 1) -> None:
        self._events.append((now, weight))

    def _expire(self, now: float) -> None:
        while self._events and self._events[0][0] <= now - self.span:
            self._events.popleft()


class PacingLimiter:
    """The one limiter every IB request of this process goes through."""

    def __init__(
        self, rules: PacingRules | None = None, *, clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep
    ) -> None:
        self.rules = rules or PacingRules()
        self._clock = clock
        self._sleep = sleep
        self._in_flight = asyncio.Semaphore(self.rules.max_in_flight)
        self._in_flight_count = 0
        self._waiting = 0
        self._messages = SlidingWindow(self.rules.messages_per_second, 1.0)
        self._historical = SlidingWindow(self.rules.historical_requests, self.rules.historical_window)
        self._by_contract: dict[tuple[int, str, str], SlidingWindow] = {}
        self._last_identical: dict[HistoricalRequest, float] = {}
        self._paused_until = 0.0
        self._turn = asyncio.Lock()

    @property
    def in_flight(self) -> int:
        """Requests admitted and not finished."""
        return self._in_flight_count

    @property
    def waiting(self) -> int:
        """Requests held back right now."""
        return self._waiting

    def historical_in_window(self) -> int:
        return self._historical.count(self._clock())

    def paused_for(self) -> float:
        """Seconds left of a pause after a pacing violation (0 when none)."""
        return max(0.0, self._paused_until - self._clock())

    def pause(self, seconds: float | None = None) -> None:
        """Hold every historical request for ``seconds`` (default: the rules' violation pause)."""
        until = self._clock() + (self.rules.violation_pause if seconds is None else seconds)
        self._paused_until = max(self._paused_until, until)
        log.warning("ib_historical_requests_paused", seconds=round(until - self._clock(), 3))

    @asynccontextmanager
    async def historical(self, request: HistoricalRequest) -> AsyncIterator[None]:
        """Hold until ``request`` may be sent without breaking a rule; it counts as in flight inside.

        Rules about this request alone (identical gap, same contract, a violation pause) are
        waited out first, each request on its own; the shared windows then admit waiters in
        arrival order (an asyncio lock is first come, first served), so a burst is served fairly.
        """
        what = request.describe()
        async with self._slot():
            waited = 0.0
            while True:
                waited = await self._wait_out(what, lambda now: self._own_wait(request, now), waited)
                async with self._turn:
                    waited = await self._wait_out(what, lambda now: self._shared_wait(request, now), waited)
                    now = self._clock()
                    if self._own_wait(request, now) <= 0:
                        self._record_historical(request, now)
                        break
            if waited:
                log.info("ib_request_released", request=what, waited_seconds=round(waited, 3))
            yield

    @asynccontextmanager
    async def request(self, what: str) -> AsyncIterator[None]:
        """Hold any other request (contract details, symbol search) until the message rate allows it."""
        async with self._slot():
            async with self._turn:
                waited = await self._wait_out(what, self._messages.wait, 0.0)
                self._messages.add(self._clock())
            if waited:
                log.info("ib_request_released", request=what, waited_seconds=round(waited, 3))
            yield

    @asynccontextmanager
    async def _slot(self) -> AsyncIterator[None]:
        async with self._in_flight:
            self._in_flight_count += 1
            try:
                yield
            finally:
                self._in_flight_count -= 1

    async def _wait_out(self, what: str, wait_for: Callable[[float], float], waited: float) -> float:
        """Sleep until ``wait_for(now)`` is 0; returns the total waited so far.

        The caller records its request right after, with no ``await`` in between, so no other
        request can slip into the window it was cleared for.
        """
        while (wait := wait_for(self._clock())) > 0:
            if waited + wait > self.rules.max_wait:
                msg = (
                    f"IB pacing would hold {what} for {waited + wait:.1f} s, more than the "
                    f"{self.rules.max_wait:.1f} s allowed"
                )
                raise PacingDelayError(msg, retry_after=wait)
            if not waited:
                log.info("ib_request_paced", request=what, wait_seconds=round(wait, 3))
            self._waiting += 1
            try:
                await self._sleep(wait)
            finally:
                self._waiting -= 1
            waited += wait
        return waited

    def _own_wait(self, request: HistoricalRequest, now: float) -> float:
        same_contract = self._by_contract.get(request.contract_key)
        last = self._last_identical.get(request)
        return max(
            self._paused_until - now,
            (last + self.rules.identical_gap - now) if last is not None else 0.0,
            same_contract.wait(now) if same_contract is not None else 0.0,
        )

    def _shared_wait(self, request: HistoricalRequest, now: float) -> float:
        return max(self._historical.wait(now, request.weight), self._messages.wait(now))

    def _record_historical(self, request: HistoricalRequest, now: float) -> None:
        self._historical.add(now, request.weight)
        self._messages.add(now)
        window = self._by_contract.setdefault(
            request.contract_key, SlidingWindow(self.rules.same_contract_requests, self.rules.same_contract_window)
        )
        window.add(now)
        self._last_identical[request] = now
        self._forget_old(now)

    def _forget_old(self, now: float) -> None:
        """Drop bookkeeping no rule can look at any more, so a long-running process does not grow."""
        for request in [
            request for request, at in self._last_identical.items() if at <= now - self.rules.identical_gap
        ]:
            del self._last_identical[request]
        for contract in [contract for contract, window in self._by_contract.items() if window.count(now) == 0]:
            del self._by_contract[contract]
