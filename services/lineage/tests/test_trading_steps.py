"""How the broker's events become steps of the execution that caused them."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from uuid import uuid4

from tradelane.contracts import subjects
from tradelane.contracts.book import RiskRecord, TradingStateChange
from tradelane.contracts.llm_budget import LlmBudgetCrossed, budget_crossing_id
from tradelane.contracts.market import ResolvedSymbol
from tradelane.contracts.strategy import AssetType
from tradelane.contracts.trading import (
    MANUAL_STRATEGY_ID,
    Fill,
    OrderFilled,
    OrderRejected,
    OrderSide,
    OrderSubmitted,
    OrderTicket,
    OrderType,
    PositionChanged,
    SignalSkipped,
    TradingLimits,
    TradingState,
    Venue,
    manual_execution_id,
)
from tradelane.lineage.recording import step_record

AT = datetime(2026, 11, 20, 15, tzinfo=UTC)
BTC = ResolvedSymbol(conid=1, symbol="BTC", exchange="PAXOS", currency="USD", asset_type=AssetType.CRYPTO)
TICKET = OrderTicket(
    client_ref="tl-s-1", instrument=BTC, side=OrderSide.BUY, order_type=OrderType.LIMIT, quantity=Decimal("0.5"),
    limit_price=Decimal(60000),
)  # fmt: skip
SIGNAL_ID = uuid4()
EXECUTION_ID = uuid4()


def _order_fields(strategy_id: object = None) -> dict[str, object]:
    return {
        "execution_id": EXECUTION_ID,
        "strategy_id": strategy_id or uuid4(),
        "causation_id": SIGNAL_ID,
        "client_ref": TICKET.client_ref,
        "signal_id": SIGNAL_ID,
        "order": TICKET,
        "venue": Venue.PAPER,
    }


def test_a_submitted_order_is_a_step_of_the_signals_execution() -> None:
    event = OrderSubmitted.model_validate(_order_fields())
    record = step_record(subjects.ORDER_SUBMITTED, event.model_dump(mode="json"), stream_sequence=4)
    assert (record.step, record.status, record.execution_status) == ("order_submitted", "succeeded", "running")
    assert record.execution_id == EXECUTION_ID
    assert record.causation_id == SIGNAL_ID


def test_fills_and_position_changes_have_steps_of_their_own() -> None:
    fill = Fill(exec_id="e1", quantity=Decimal("0.5"), price=Decimal(60000), filled_at=AT)
    filled = OrderFilled.model_validate(
        {**_order_fields(), "fill": fill, "filled_quantity": "0.5", "average_price": "60000"}
    )
    position = PositionChanged(
        execution_id=EXECUTION_ID, strategy_id=uuid4(), causation_id=filled.message_id, instrument=BTC,
        quantity=Decimal("0.5"), previous_quantity=Decimal(0), average_cost=Decimal(60000), realized_pnl=Decimal(0),
        client_ref=TICKET.client_ref, signal_id=SIGNAL_ID, exec_id="e1",
    )  # fmt: skip
    assert step_record(subjects.ORDER_FILLED, filled.model_dump(mode="json"), stream_sequence=5).step == "order_filled"
    record = step_record(subjects.POSITION_CHANGED, position.model_dump(mode="json"), stream_sequence=6)
    assert (record.step, record.causation_id) == ("position_changed", filled.message_id)


def test_a_refused_order_is_a_rejected_step_with_the_reason_and_the_execution_stays_as_it_was() -> None:
    event = OrderRejected.model_validate(
        {**_order_fields(), "source": "risk", "rule": "max_open_positions", "reason": "5 instruments are held"}
    )
    record = step_record(subjects.ORDER_REJECTED, event.model_dump(mode="json"), stream_sequence=7)
    assert (record.step, record.status, record.execution_status) == ("order_rejected", "rejected", "running")
    assert record.error == "5 instruments are held"


def test_a_manual_order_is_an_execution_of_its_own() -> None:
    fields = {**_order_fields(MANUAL_STRATEGY_ID), "execution_id": manual_execution_id("tl-m-1"), "signal_id": None}
    event = OrderSubmitted.model_validate(fields)
    record = step_record(subjects.ORDER_SUBMITTED, event.model_dump(mode="json"), stream_sequence=8)
    assert (record.trigger, record.execution_status) == ("manual_order", "completed")


def test_a_trading_event_breaking_its_contract_is_recorded_as_failed() -> None:
    body = OrderSubmitted.model_validate(_order_fields()).model_dump(mode="json") | {"order": "not an order"}
    record = step_record(subjects.ORDER_SUBMITTED, body, stream_sequence=9)
    assert (record.step, record.status) == ("order_submitted", "failed")
    assert record.error is not None
    assert "order" in record.error


def test_a_skipped_signal_is_a_skipped_step_with_the_reason() -> None:
    """A signal the broker would not trade (a replay, a redrive, a strategy that stopped trading) is never silent."""
    event = SignalSkipped(
        execution_id=EXECUTION_ID, strategy_id=uuid4(), causation_id=SIGNAL_ID, signal_id=SIGNAL_ID,
        rule="auto_trade_off", reason="strategy 'btc' has auto_trade off now",
    )  # fmt: skip
    record = step_record(subjects.SIGNAL_SKIPPED, event.model_dump(mode="json"), stream_sequence=10)
    assert (record.step, record.status, record.execution_status) == ("signal_skipped", "skipped", "running")
    assert record.error == "strategy 'btc' has auto_trade off now"
    assert record.causation_id == SIGNAL_ID


def test_a_trading_state_change_is_an_execution_of_its_own_completed_at_once() -> None:
    """A halt belongs to no strategy: the lineage keeps it as its own execution, trigger ``trading_state``."""
    change = TradingStateChange(
        risk=RiskRecord(
            state=TradingState.HALTED, reason="kill switch", changed_by="api", changed_at=AT, limits=TradingLimits()
        ),
        previous_state=TradingState.ACTIVE,
        change=7,
    )
    event = change.event()
    record = step_record(subjects.TRADING_STATE_CHANGED, event.model_dump(mode="json"), stream_sequence=9)
    assert (record.step, record.status, record.execution_status, record.trigger) == (
        "trading_state_changed",
        "succeeded",
        "completed",
        "trading_state",
    )
    assert (record.execution_id, record.message_id, record.strategy_id) == (
        event.message_id,
        event.message_id,
        MANUAL_STRATEGY_ID,
    )


def test_an_llm_budget_crossing_is_a_step_of_the_execution_that_crossed_it() -> None:
    event = LlmBudgetCrossed(
        message_id=budget_crossing_id(AT.date(), 80),
        execution_id=EXECUTION_ID,
        strategy_id=uuid4(),
        day=AT.date(),
        threshold_percent=80,
        budget=Decimal(10),
        spent=Decimal("8.2"),
        model="gpt-4o",
    )
    record = step_record(subjects.LLM_BUDGET_CROSSED, event.model_dump(mode="json"), stream_sequence=12)
    assert (record.execution_id, record.step, record.status, record.execution_status) == (
        EXECUTION_ID,
        subjects.LLM_BUDGET_CROSSED,
        "succeeded",
        "running",
    )
