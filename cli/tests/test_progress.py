"""The replay progress bar (pure)."""

from __future__ import annotations

import io

from tradelane.cli.progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_bar_counts_and_rates_against_an_upper_bound() -> None:
    ticks = iter([0.0, 1.0, 2.0, 2.0])
    progress = Progress(io.StringIO(), verb="republished", clock=lambda: next(ticks))
    progress.advance(done=True, remaining=3)
    progress.advance(done=False, remaining=2)
    assert progress.line() == "[############............] 2/4 read, 1 republished, 1 skipped, 1 msg/s"


def test_off_a_terminal_nothing_is_drawn() -> None:
    stream = io.StringIO()
    progress = Progress(stream, verb="republished")
    progress.advance(done=True, remaining=0)
    progress.finish()
    assert stream.getvalue() == ""


def test_on_a_terminal_the_line_is_redrawn_in_place_and_ended() -> None:
    stream = Terminal()
    progress = Progress(stream, verb="republished")
    progress.advance(done=True, remaining=0)
    progress.finish()
    assert stream.getvalue().startswith("\r[") and stream.getvalue().endswith("\n")
