"""How a signal event becomes a ledger row: its prices, its provenance, and what an older signal step left out."""

from __future__ import annotations

from decimal import Decimal

from services.ledger.tests.ledger_tests.events import TEMPLATE_ID, signal_generated, signal_rejected
from tradelane.contracts.events import Action
from tradelane.ledger.recording import ledger_signal


def test_a_generated_signal_keeps_its_prices_and_provenance() -> None:
    event = signal_generated(Action.BUY)
    row = ledger_signal(event, strategy_version=4)
    assert (row.signal_id, row.execution_id, row.status, row.rule) == (
        event.message_id,
        event.execution_id,
        "generated",
        None,
    )
    assert (row.action, row.symbol, row.entry, row.stop, row.first_target) == (
        "BUY",
        "BTC",
        Decimal(100),
        Decimal(99),
        Decimal(102),
    )
    assert (row.analyst, row.model, row.prompt_template_id, row.prompt_version) == ("llm", "vision-1", TEMPLATE_ID, 3)
    assert (row.tokens_in, row.cost, row.reference_price, row.bar_size) == (
        1200,
        Decimal("0.0031"),
        Decimal(100),
        "1 min",
    )
    assert (row.strategy_name, row.strategy_version) == ("btc-1min", 4)


def test_a_rejected_candidate_names_the_rule() -> None:
    row = ledger_signal(signal_rejected(), strategy_version=None)
    assert (row.status, row.rule, row.action) == ("rejected", "min_risk_reward", "SELL")


def test_a_signal_without_provenance_keeps_what_the_signal_says() -> None:
    row = ledger_signal(signal_generated(Action.HOLD, with_provenance=False), strategy_version=None)
    assert (row.analyst, row.model, row.prompt_version, row.reference_price) == (None, "vision-1", None, None)
    assert (row.entry, row.bar_size, row.tokens_in) == (None, "1 min", 0)
