"""A strategy's next run as the gateway shows it (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

from tradelane.contracts.strategy import Schedule, StrategyDefinition, SymbolRef
from tradelane.gateway.cron import next_run_at


def _strategy(cron: str, timezone: str = "UTC", *, active: bool = True) -> StrategyDefinition:
    return StrategyDefinition(
        name="s", symbol=SymbolRef(symbol="AAPL"), schedule=Schedule(cron=cron, timezone=timezone), active=active
    )


def test_next_run_reads_the_cron_in_the_strategy_time_zone() -> None:
    friday_noon_utc = datetime(2025, 1, 3, 12, 0, tzinfo=UTC)
    upcoming = next_run_at(_strategy("0 16 * * 1-5", "America/New_York"), friday_noon_utc)
    assert upcoming == datetime(2025, 1, 3, 21, 0, tzinfo=UTC)


def test_next_run_follows_daylight_saving_time() -> None:
    july = datetime(2025, 7, 1, 12, 0, tzinfo=UTC)
    assert next_run_at(_strategy("0 16 * * *", "America/New_York"), july) == datetime(2025, 7, 1, 20, 0, tzinfo=UTC)


def test_an_inactive_strategy_has_no_next_run() -> None:
    assert next_run_at(_strategy("*/5 * * * *", active=False), datetime(2025, 1, 1, tzinfo=UTC)) is None


def test_a_cron_that_never_fires_has_no_next_run() -> None:
    assert next_run_at(_strategy("0 0 30 2 *"), datetime(2025, 1, 1, tzinfo=UTC)) is None
