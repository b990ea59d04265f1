"""What a person reads about each event (pure)."""

from __future__ import annotations

from services.notifier.tests.notifier_tests.events import (
    llm_budget_crossed,
    order_filled,
    signal_generated,
    step_failed,
    trading_state_changed,
)
from tradelane.contracts.events import Action
from tradelane.contracts.notifications import NotificationKind
from tradelane.contracts.trading import TradingState
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


def test_a_halt_by_the_risk_engine_says_so_with_its_reason() -> None:
    notice = notice_of(trading_state_changed(TradingState.HALTED, by="risk-engine", reason="daily loss limit reached"))
    assert notice is not None
    assert (notice.kind, notice.title, notice.urgency) == (NotificationKind.HALT, "Trading HALTED", Urgency.FAILURE)
    first, reason = notice.body.splitlines()
    assert first.startswith("ACTIVE -> HALTED by the risk engine at ")
    assert reason == "daily loss limit reached"


def test_reducing_is_a_warning_and_a_resume_a_success() -> None:
    reducing = notice_of(trading_state_changed(TradingState.REDUCING, previous=TradingState.HALTED))
    resumed = notice_of(trading_state_changed(TradingState.ACTIVE, previous=TradingState.HALTED))
    assert reducing is not None and resumed is not None
    assert (reducing.title, reducing.urgency) == ("Trading REDUCING only", Urgency.WARNING)
    assert (resumed.title, resumed.urgency) == ("Trading resumed (ACTIVE)", Urgency.SUCCESS)
    assert resumed.body.startswith("HALTED -> ACTIVE by 'api' at ")


def test_an_llm_budget_threshold_is_a_warning_until_the_whole_budget_is_spent() -> None:
    eighty = notice_of(llm_budget_crossed(80))
    full = notice_of(llm_budget_crossed(100, spent="10.02"))
    assert eighty is not None and full is not None
    assert (eighty.kind, eighty.title, eighty.urgency) == (
        NotificationKind.LLM_BUDGET,
        "LLM budget 80 % reached",
        Urgency.WARNING,
    )
    assert "8.12 of 10 USD" in eighty.body
    assert full.urgency is Urgency.FAILURE
    assert "asks no model for the rest of the day" in full.body
