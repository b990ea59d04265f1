"""The identity of scheduled runs."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

from tradelane.contracts.events import Trigger
from tradelane.contracts.strategy import StrategyDefinition, SymbolRef
from tradelane.scheduler.schedule import scheduled_request


def test_two_replicas_build_the_same_request_for_the_same_due_time() -> None:
    strategy_id = uuid4()
    definition = StrategyDefinition(name="s", symbol=SymbolRef(symbol="AAPL"))
    due = datetime(2026, 11, 23, 21, 0, tzinfo=UTC)
    first = scheduled_request(strategy_id, definition, due)
    second = scheduled_request(strategy_id, definition, due)
    assert first == second
    assert first.trigger is Trigger.SCHEDULE
    assert first.as_of == due


def test_different_due_times_make_different_executions() -> None:
    strategy_id = uuid4()
    definition = StrategyDefinition(name="s", symbol=SymbolRef(symbol="AAPL"))
    first = scheduled_request(strategy_id, definition, datetime(2026, 11, 23, 21, 0, tzinfo=UTC))
    second = scheduled_request(strategy_id, definition, datetime(2026, 11, 23, 21, 5, tzinfo=UTC))
    assert first.execution_id != second.execution_id
    assert first.message_id != second.message_id
