"""The scheduler loop against a controllable clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from tradelane.contracts.events import ExecutionRequested
from tradelane.contracts.strategy import Schedule, StrategyDefinition, SymbolRef
from tradelane.scheduler.loop import Scheduler
from tradelane.store.strategies import StoredStrategy


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _stored(cron: str = "*/5 * * * *", *, active: bool = True, version: int = 1) -> StoredStrategy:
    now = datetime(2026, 11, 23, tzinfo=UTC)
    definition = StrategyDefinition(
        name="s", symbol=SymbolRef(symbol="AAPL"), schedule=Schedule(cron=cron), active=active
    )
    return StoredStrategy(id=uuid4(), definition=definition, version=version, created_at=now, updated_at=now)


class World:
    def __init__(self, strategies: list[StoredStrategy], clock: Clock) -> None:
        self.strategies = strategies
        self.published: list[ExecutionRequested] = []
        self.bus_down = False
        self.scheduler = Scheduler(self.load, self.publish, clock=clock)

    async def load(self) -> list[StoredStrategy]:
        return list(self.strategies)

    async def publish(self, request: ExecutionRequested) -> None:
        if self.bus_down:
            raise ConnectionError("bus down")
        self.published.append(request)


async def test_a_strategy_fires_at_its_due_time_and_not_before() -> None:
    clock = Clock(datetime(2026, 11, 23, 10, 3, tzinfo=UTC))
    world = World([_stored()], clock)
    await world.scheduler.reload()
    assert await world.scheduler.fire_due() == 0
    clock.now = datetime(2026, 11, 23, 10, 5, 0, 300_000, tzinfo=UTC)
    assert await world.scheduler.fire_due() == 1
    assert world.published[0].scheduled_for == datetime(2026, 11, 23, 10, 5, tzinfo=UTC)


async def test_sleep_lasts_until_the_next_due_time() -> None:
    clock = Clock(datetime(2026, 11, 23, 10, 4, 59, tzinfo=UTC))
    world = World([_stored()], clock)
    await world.scheduler.reload()
    assert world.scheduler.seconds_until_next() == 1.0


async def test_inactive_strategies_are_not_scheduled() -> None:
    clock = Clock(datetime(2026, 11, 23, 10, 3, tzinfo=UTC))
    world = World([_stored(active=False)], clock)
    await world.scheduler.reload()
    assert world.scheduler.next_due == {}


async def test_a_deleted_strategy_stops_firing_after_reload() -> None:
    clock = Clock(datetime(2026, 11, 23, 10, 3, tzinfo=UTC))
    world = World([_stored()], clock)
    await world.scheduler.reload()
    world.strategies.clear()
    await world.scheduler.reload()
    clock.now += timedelta(minutes=10)
    assert await world.scheduler.fire_due() == 0


async def test_a_changed_cron_takes_effect_on_reload() -> None:
    clock = Clock(datetime(2026, 11, 23, 10, 3, tzinfo=UTC))
    strategy = _stored("0 * * * *")
    world = World([strategy], clock)
    await world.scheduler.reload()
    assert world.scheduler.next_due[strategy.id] == datetime(2026, 11, 23, 11, 0, tzinfo=UTC)
    changed = _stored("*/5 * * * *", version=2)
    world.strategies[:] = [StoredStrategy(strategy.id, changed.definition, 2, strategy.created_at, strategy.updated_at)]
    await world.scheduler.reload()
    assert world.scheduler.next_due[strategy.id] == datetime(2026, 11, 23, 10, 5, tzinfo=UTC)


async def test_a_run_missed_by_more_than_the_grace_is_skipped_not_replayed() -> None:
    clock = Clock(datetime(2026, 11, 23, 10, 3, tzinfo=UTC))
    world = World([_stored()], clock)
    await world.scheduler.reload()
    clock.now = datetime(2026, 11, 23, 10, 31, tzinfo=UTC)
    assert await world.scheduler.fire_due() == 1  # only 10:30, within the grace
    assert world.published[0].scheduled_for == datetime(2026, 11, 23, 10, 30, tzinfo=UTC)


async def test_a_failed_publish_keeps_the_run_due() -> None:
    clock = Clock(datetime(2026, 11, 23, 10, 5, 0, tzinfo=UTC))
    world = World([_stored()], clock)
    await world.scheduler.reload()  # due 10:10
    clock.now = datetime(2026, 11, 23, 10, 10, 0, tzinfo=UTC)
    world.bus_down = True
    with pytest.raises(ConnectionError):
        await world.scheduler.fire_due()
    world.bus_down = False
    assert await world.scheduler.fire_due() == 1
    assert world.published[0].scheduled_for == datetime(2026, 11, 23, 10, 10, tzinfo=UTC)
