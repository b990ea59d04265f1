"""When a signal is first looked at for its shadow outcome, and the window it is judged on."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from services.ledger.tests.ledger_tests.events import signal_generated, signal_rejected
from tradelane.contracts.events import Action
from tradelane.ledger.judging import first_check_at, window_of
from tradelane.ledger.recording import ledger_signal

MINUTE = timedelta(minutes=1)


def test_the_window_opens_with_the_bar_after_the_signal_s_and_lasts_as_long_as_the_signal() -> None:
    event = signal_generated()
    window = window_of(ledger_signal(event, None))
    assert event.provenance is not None
    assert window is not None
    assert (window.start, window.end - window.start, window.bar) == (
        event.provenance.reference_bar_time + MINUTE,
        timedelta(hours=1),
        MINUTE,
    )


def test_a_trade_is_first_looked_at_after_its_first_bar_and_a_hold_once_its_window_has_passed() -> None:
    buy = ledger_signal(signal_generated(Action.BUY), None)
    hold = ledger_signal(signal_generated(Action.HOLD), None)
    buy_window, hold_window = window_of(buy), window_of(hold)
    assert buy_window is not None
    assert hold_window is not None
    assert first_check_at(buy) == buy_window.start + MINUTE
    assert first_check_at(hold) == hold_window.end + MINUTE


def test_what_can_have_no_shadow_outcome_is_never_looked_at() -> None:
    rejected = ledger_signal(signal_rejected(), None)
    without_provenance = ledger_signal(signal_generated(with_provenance=False), None)
    hold_without_atr = replace(ledger_signal(signal_generated(Action.HOLD), None), atr=None)
    assert [first_check_at(row) for row in (rejected, without_provenance, hold_without_atr)] == [None, None, None]
