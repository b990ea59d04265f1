"""How long to wait before restarting a process that died: longer on each quick death.

A process that crashes at once (bad configuration, a port taken, a dependency still down)
would otherwise be restarted in a tight loop that floods the log and the machine; one that
ran for a while and then died is restarted after the first, shortest delay again, since its
death says nothing about the next start.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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
    _next: float = field(init=False)

    def __post_init__(self) -> None:
        self._next = self.first

    def after_death(self, ran_for_seconds: float) -> float:
        """The delay before restarting a process that died after running ``ran_for_seconds``."""
        if ran_for_seconds >= self.healthy_after:
            self._next = self.first
        delay = self._next
        self._next = min(self._next * 2, self.ceiling)
        return delay
