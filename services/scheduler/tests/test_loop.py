"""The scheduler loop against a controllable clock."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from tests.support.waiting import eventually
from tradelane.contracts.events import ExecutionRequested
from tradelane.contracts.strategy import Schedule, StrategyDefinition, SymbolRef
from tradelane.runtime.bus import EncodedEvent
from tradelane.scheduler.loop import Scheduler
from tradelane.store.strategies import StoredStrategy, StrategySchedule


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _stored(
    cron: str = "*/5 * * * *", *, active: bool = True, version: int = 1, timezone: str = "UTC", symbol: str = "AAPL"
) -> StoredStrategy:
    now = datetime(2026, 11, 23, tzinfo=UTC)
    definition = StrategyDefinition(
        name="s", symbol=SymbolRef(symbol=symbol), schedule=Schedule(cron=cron, timezone=timezone), active=active
    )
    return StoredStrategy(id=uuid4(), definition=definition, version=version, created_at=now, updated_at=now)


class World:
    """The stored strategies and the bus as the scheduler sees them."""

    def __init__(self, strategies: list[StoredStrategy], clock: Clock) -> None:
        self.strategies = strategies
        self.published: list[ExecutionRequested] = []
        self.bus_down = False
        self.refused: set[UUID] = set()
        """Strategies whose requests the bus refuses (as when their acknowledgement never comes)."""
        self.reads: list[int] = []
        """How many definitions each read of them asked for."""
        self.scheduler = Scheduler(self, self.publish_many, clock=clock)

    async def schedules(self) -> list[StrategySchedule]:
        return [
            StrategySchedule(
                stored.id, stored.version, stored.definition.schedule.cron, stored.definition.schedule.timezone
            )
            for stored in self.strategies
            if stored.definition.active
        ]

    async def active_by_ids(self, strategy_ids: Sequence[UUID]) -> list[StoredStrategy]:
        self.reads.append(len(strategy_ids))
        wanted = set(strategy_ids)
        return [stored for stored in self.strategies if stored.id in wanted and stored.definition.active]

    async def publish_many(self, events: Sequence[EncodedEvent]) -> list[Exception | None]:
        outcomes: list[Exception | None] = []
        for event in events:
            request = ExecutionRequested.model_validate_json(event.data)
            if self.bus_down or request.strategy_id in self.refused:
                outcomes.append(ConnectionError("bus down"))
            else:
                self.published.append(request)
                outcomes.append(None)
        return outcomes


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


async def test_many_strategies_due_at_once_each_get_one_request_built_ahead_of_the_due_time() -> None:
    """600 strategies in zones a whole number of hours apart, due at the same instant."""
    zones = ("UTC", "America/New_York", "Asia/Tokyo", "Europe/Berlin")
    clock = Clock(datetime(2026, 11, 23, 10, 3, tzinfo=UTC))
    world = World([_stored("0 * * * *", timezone=zone) for zone in zones for _ in range(150)], clock)
    await world.scheduler.reload()
    clock.now = datetime(2026, 11, 23, 10, 59, 55, tzinfo=UTC)
    await world.scheduler.prepare_upcoming()
    assert world.reads == [500, 100]  # one query per batch of definitions, before the due time
    clock.now = datetime(2026, 11, 23, 11, 0, 0, 200_000, tzinfo=UTC)
    assert await world.scheduler.fire_due() == 600
    assert await world.scheduler.fire_due() == 0
    assert world.reads == [500, 100]  # the due time only sent what was built
    assert sorted(request.strategy_id for request in world.published) == sorted(s.id for s in world.strategies)
    assert {request.scheduled_for for request in world.published} == {datetime(2026, 11, 23, 11, 0, tzinfo=UTC)}
    assert set(world.scheduler.next_due.values()) == {datetime(2026, 11, 23, 12, 0, tzinfo=UTC)}


async def test_a_strategy_changed_after_its_run_was_built_runs_as_changed() -> None:
    clock = Clock(datetime(2026, 11, 23, 10, 4, 55, tzinfo=UTC))
    strategy = _stored()
    world = World([strategy], clock)
    await world.scheduler.reload()
    await world.scheduler.prepare_upcoming()
    changed = _stored(symbol="MSFT", version=2).definition
    world.strategies[:] = [StoredStrategy(strategy.id, changed, 2, strategy.created_at, strategy.updated_at)]
    await world.scheduler.reload()  # as the NOTIFY of the change makes it
    clock.now = datetime(2026, 11, 23, 10, 5, 0, 100_000, tzinfo=UTC)
    assert await world.scheduler.fire_due() == 1
    assert world.published[0].strategy.symbol.symbol == "MSFT"


async def test_a_strategy_paused_before_its_run_is_built_does_not_run_even_before_the_reload() -> None:
    """The NOTIFY of the pause has not arrived: the definitions read at the due time say it."""
    clock = Clock(datetime(2026, 11, 23, 10, 3, tzinfo=UTC))
    strategy = _stored()
    world = World([strategy], clock)
    await world.scheduler.reload()
    paused = _stored(active=False, version=2).definition
    world.strategies[:] = [StoredStrategy(strategy.id, paused, 2, strategy.created_at, strategy.updated_at)]
    clock.now = datetime(2026, 11, 23, 10, 5, 0, 100_000, tzinfo=UTC)
    assert await world.scheduler.fire_due() == 0
    assert world.published == []


async def test_runs_whose_publish_failed_stay_due_and_the_others_are_not_published_again() -> None:
    clock = Clock(datetime(2026, 11, 23, 10, 3, tzinfo=UTC))
    refused, accepted = _stored(), _stored()
    world = World([refused, accepted], clock)
    await world.scheduler.reload()
    clock.now = datetime(2026, 11, 23, 10, 5, tzinfo=UTC)
    world.refused.add(refused.id)
    with pytest.raises(ConnectionError):
        await world.scheduler.fire_due()
    world.refused.clear()
    assert await world.scheduler.fire_due() == 1
    assert [request.strategy_id for request in world.published] == [accepted.id, refused.id]


async def test_the_loop_loads_the_schedule_as_it_starts_not_a_reload_interval_later() -> None:
    world = World([_stored()], Clock(datetime(2026, 11, 23, 10, 3, tzinfo=UTC)))
    running = asyncio.create_task(world.scheduler.run())
    try:
        await eventually(lambda: world.scheduler.next_due, "the schedule loaded", timeout=2)
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
