"""Cron next-fire times and the identity of scheduled runs."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

from tradelane.contracts.events import Trigger
from tradelane.contracts.strategy import StrategyDefinition, SymbolRef
from tradelane.scheduler.schedule import is_valid_cron, next_fire, scheduled_request


def test_next_fire_is_strictly_after_the_given_time() -> None:
    at = datetime(2026, 11, 23, 10, 5, tzinfo=UTC)
    assert next_fire("*/5 * * * *", "UTC", at) == datetime(2026, 11, 23, 10, 10, tzinfo=UTC)


def test_next_fire_reads_the_cron_in_the_strategy_time_zone() -> None:
    """4 pm in New York is 21:00 UTC in winter."""
    at = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    assert next_fire("0 16 * * 1-5", "America/New_York", at) == datetime(2026, 11, 23, 21, 0, tzinfo=UTC)


def test_next_fire_follows_daylight_saving_time() -> None:
    """4 pm in New York is 20:00 UTC in summer."""
    at = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
    assert next_fire("0 16 * * *", "America/New_York", at) == datetime(2026, 7, 1, 20, 0, tzinfo=UTC)


def test_next_fire_skips_the_weekend_for_weekday_crons() -> None:
    friday_evening = datetime(2026, 11, 27, 22, 0, tzinfo=UTC)
    assert next_fire("30 14 * * 1-5", "UTC", friday_evening) == datetime(2026, 11, 30, 14, 30, tzinfo=UTC)


def test_cron_validity() -> None:
    assert is_valid_cron("0 16 * * 1-5")
    assert not is_valid_cron("61 * * * *")
    assert not is_valid_cron("* * * *")


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
