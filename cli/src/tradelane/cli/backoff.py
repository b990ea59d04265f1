"""How long to wait before restarting a process that died: longer on each quick death.

A process that crashes at once (bad configuration, a port taken, a dependency still down)
would otherwise be restarted in a tight loop that floods the log and the machine; one that
ran for a while and then died is restarted after the first, shortest delay again, since its
death says nothing about the next start.

The delays are the project's :class:`~tradelane.runtime.retrying.Backoff` without jitter (one
supervisor restarts each process, so there is no crowd to spread). Tenacity's retry loop does
not fit: a death is not an exception of one call, a run may last for hours, and a healthy run
starts the count over, so this only counts the quick deaths and asks the backoff for the delay.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tradelane.runtime.retrying import Backoff

FIRST_DELAY_SECONDS = 1.0
MAX_DELAY_SECONDS = 30.0
HEALTHY_AFTER_SECONDS = 60.0


@dataclass
class RestartBackoff:
    """The delay before each restart of one process: doubles on each quick death, resets after a healthy run."""

    first: float = FIRST_DELAY_SECONDS
    ceiling: float = MAX_DELAY_SECONDS
    healthy_after: float = HEALTHY_AFTER_SECONDS
    """A run at least this long counts as healthy: the next delay starts from ``first`` again."""
    _deaths_since_healthy: int = field(init=False, default=0)

    def after_death(self, ran_for_seconds: float) -> float:
        """The delay before restarting a process that died after running ``ran_for_seconds``."""
        if ran_for_seconds >= self.healthy_after:
            self._deaths_since_healthy = 0
        self._deaths_since_healthy += 1
        return Backoff(initial=self.first, cap=self.ceiling).delay(self._deaths_since_healthy)
