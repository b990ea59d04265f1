"""A one-line progress bar on stderr: counts and rate, redrawn in place on a terminal.

Off a terminal (a pipe, a CI log) it writes nothing, so logs stay readable; the command says
the final counts itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

BAR_WIDTH = 24
REDRAW_SECONDS = 0.1


def bar(done: int, total: int) -> str:
    """``[######..................]``: ``done`` of ``total`` (full when there is nothing to do)."""
    filled = BAR_WIDTH if total <= 0 else min(BAR_WIDTH, round(BAR_WIDTH * done / total))
    return "[" + "#" * filled + "." * (BAR_WIDTH - filled) + "]"


class Progress:
    """Counts read, republished and skipped messages against an upper bound of what may come."""

    def __init__(self, stream: TextIO, *, verb: str, clock: Callable[[], float] = time.monotonic) -> None:
        self._stream = stream
        self._verb = verb
        self._clock = clock
        self._started = clock()
        self._drawn_at = 0.0
        self._live = stream.isatty()
        self.read = 0
        self.done = 0
        self.skipped = 0
        self.expected = 0

    def advance(self, *, done: bool, remaining: int) -> None:
        """One more message read; ``done`` when it was (or would be) republished; ``remaining`` at most to come."""
        self.read += 1
        self.done += done
        self.skipped += not done
        self.expected = self.read + remaining
        now = self._clock()
        if self._live and now - self._drawn_at >= REDRAW_SECONDS:
            self._drawn_at = now
            self._stream.write("\r" + self.line() + "\x1b[K")
            self._stream.flush()

    def rate(self) -> float:
        elapsed = self._clock() - self._started
        return self.read / elapsed if elapsed > 0 else 0.0

    def line(self) -> str:
        expected = max(self.expected, self.read)
        return (
            f"{bar(self.read, expected)} {self.read}/{expected} read, {self.done} {self.verb}, {self.skipped} skipped, "
            f"{self.rate():.0f} msg/s"
        )

    @property
    def verb(self) -> str:
        return self._verb

    def finish(self) -> None:
        """Draw the final counts and end the line (on a terminal)."""
        if self._live:
            self._stream.write("\r" + self.line() + "\x1b[K\n")
            self._stream.flush()
