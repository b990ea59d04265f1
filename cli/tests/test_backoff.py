"""The restart delay: doubles on each quick death up to its ceiling, starts over after a healthy run."""

from __future__ import annotations

from tradelane.cli.backoff import RestartBackoff


def test_quick_deaths_double_the_delay_up_to_the_ceiling() -> None:
    backoff = RestartBackoff(first=1.0, ceiling=8.0, healthy_after=60.0)
    assert [backoff.after_death(0.5) for _ in range(6)] == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


def test_a_healthy_run_resets_the_delay() -> None:
    backoff = RestartBackoff(first=1.0, ceiling=30.0, healthy_after=60.0)
    for _ in range(4):
        backoff.after_death(1.0)
    assert backoff.after_death(60.0) == 1.0
    assert backoff.after_death(2.0) == 2.0


def test_a_run_just_short_of_healthy_keeps_doubling() -> None:
    backoff = RestartBackoff(first=0.5, ceiling=30.0, healthy_after=10.0)
    assert [backoff.after_death(9.9) for _ in range(3)] == [0.5, 1.0, 2.0]
