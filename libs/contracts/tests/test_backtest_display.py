"""The display rules shared by the CLI, the web UI and the backtest report."""

from __future__ import annotations

import pytest

from tradelane.contracts.backtest_display import nice_step, step_decimals, value_axis


def test_round_tick_steps() -> None:
    assert nice_step(1000, 4) == 250 * 2
    assert nice_step(0.9, 4) == pytest.approx(0.5)
    assert nice_step(37, 4) == 10


def test_the_value_axis_holds_every_value_on_round_ticks() -> None:
    low, high, step = value_axis(100_030.0, 100_620.0, 5)
    assert (low, high, step) == (100_000.0, 100_800.0, 200.0)


def test_tick_labels_have_the_decimals_their_step_needs() -> None:
    assert [step_decimals(step) for step in (500.0, 1.0, 0.5, 0.02)] == [0, 0, 1, 2]
