"""When a failed message is tried again, and when it is given up: the retry rules of DESIGN.md.

- A **transient** failure (:func:`~tradelane.runtime.errors.is_transient`: a dependency is
  unreachable) is retried with capped exponential backoff and jitter (about 1, 2, 4... s, at
  most ``retry_backoff_max_seconds``) until the **retry horizon** is spent: the time since the
  message was stored in its stream, which is when it was first published. A message that waited
  in a backlog past the horizon still gets ``max_deliver`` deliveries before it is given up.
- Any **other** exception is a bug: it gets ``max_deliver`` deliveries in all, then is given up.
- Permanent failures never reach this module: the middleware gives them up at once.

The rules are pure functions of the delivery count and the times, so every replica of a service
decides the same way and a unit test can check the schedule.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from tradelane.runtime.retrying import Backoff

JITTER_FRACTION = 0.2
"""A delay is drawn between 80 % and 100 % of its step, so retries of one outage spread out."""


def _redelivery_backoff(*, initial: float, cap: float) -> Backoff:
    """The project's backoff with this module's jitter: what every nak'ed delivery waits."""
    return Backoff(initial=initial, cap=cap, jitter_below=JITTER_FRACTION)


def backoff_delay(deliveries: int, *, initial: float, cap: float, rand: Callable[[], float] = random.random) -> float:
    """Seconds before redelivering a message that failed on its ``deliveries``-th delivery.

    ``initial * 2 ** (deliveries - 1)``, capped at ``cap``, less up to 20 % of jitter.
    """
    return _redelivery_backoff(initial=initial, cap=cap).delay(deliveries, rand)


def deliveries_within(horizon: float, *, initial: float, cap: float) -> int:
    """How many nak'ed deliveries fit in ``horizon`` seconds when every delay is the shortest the jitter allows."""
    backoff = _redelivery_backoff(initial=initial, cap=cap)
    deliveries, elapsed = 0, 0.0
    while elapsed < horizon:
        deliveries += 1
        elapsed += backoff.shortest(deliveries)
    return deliveries


@dataclass(frozen=True)
class RetryRules:
    """The limits of :mod:`tradelane.runtime.retries`, from the service's settings."""

    horizon_seconds: float
    backoff_initial_seconds: float
    backoff_max_seconds: float
    max_deliver: int

    def delay(self, deliveries: int, *, retry_after: float | None = None) -> float:
        """The backoff after the ``deliveries``-th delivery failed; a server's own ``retry_after`` if longer."""
        delay = backoff_delay(deliveries, initial=self.backoff_initial_seconds, cap=self.backoff_max_seconds)
        return max(delay, retry_after or 0.0)

    def horizon_spent(self, deliveries: int, stored_at: datetime | None, now: datetime) -> bool:
        """A transient failure on this delivery is the last one tried."""
        if deliveries < self.max_deliver:
            return False
        if stored_at is None:  # no stream timestamp (a core NATS message): nothing to measure from
            return True
        return (now - stored_at).total_seconds() >= self.horizon_seconds

    def bug_retries_spent(self, deliveries: int) -> bool:
        """An unexpected (non-transient) failure on this delivery is the last one tried."""
        return deliveries >= self.max_deliver

    def consumer_max_deliver(self) -> int:
        """JetStream's own bound on deliveries, set on every consumer.

        The middleware decides when to give up; this bound is only for a message whose handler
        never returns (it crashes the process, or hangs past its heartbeats) and so never reaches
        the middleware: JetStream stops redelivering it and its max-deliveries advisory lets the
        lineage dead-letter it. It is twice the deliveries the retry rules can ask for (plus
        one), so a crash now and then during an outage does not cut its retries short.
        """
        transient = deliveries_within(
            self.horizon_seconds, initial=self.backoff_initial_seconds, cap=self.backoff_max_seconds
        )
        return 2 * (max(transient, self.max_deliver) + 1)
