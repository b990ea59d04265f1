"""What a person reads about each event (pure)."""

from __future__ import annotations

from services.notifier.tests.notifier_tests.events import order_filled, signal_generated, step_failed
from tradelane.contracts.events import Action
from tradelane.contracts.notifications import NotificationKind
from tradelane.notifier.messages import Urgency, notice_of


def test_a_buy_signal_names_the_strategy_action_and_prices() -> None:
    notice = notice_of(signal_generated(Action.BUY))
    assert notice is not None
    assert (notice.kind, notice.title, notice.urgency) == (NotificationKind.SIGNAL, "Signal: BUY AAPL", Urgency.INFO)
    assert notice.body.splitlines()[:3] == [
        "AAPL daily: BUY AAPL (confidence 72)",
        "entry 190.5, stop 185, targets 199, 210",
        "reward/risk 1.55",
    ]


def test_a_hold_signal_is_no_news() -> None:
    assert notice_of(signal_generated(Action.HOLD)) is None


def test_a_fill_says_what_was_bought_at_what_price() -> None:
    notice = notice_of(order_filled())
    assert notice is not None
    assert (notice.kind, notice.title, notice.urgency) == (NotificationKind.FILL, "Filled: AAPL", Urgency.SUCCESS)
    assert notice.body.startswith("BUY 10 AAPL at 190.4 (commission 1; filled 10 of 10, average 190.4; ref tl-s-1)")


def test_a_failed_step_names_the_step_and_the_error() -> None:
    failed = step_failed()
    notice = notice_of(failed)
    assert notice is not None
    assert (notice.kind, notice.urgency) == (NotificationKind.EXECUTION_FAILED, Urgency.FAILURE)
    assert notice.title == "Execution failed at market_data"
    assert f"execution {failed.execution_id}: step market_data gave up (permanent" in notice.body
    assert notice.body.endswith("no such symbol: ZZZZ")
