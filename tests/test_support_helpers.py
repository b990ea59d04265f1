"""The shared test helpers do what the tests that use them rely on."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.clock import FakeClock
from tests.support.waiting import consistently, eventually


async def test_eventually_returns_the_first_truthy_value_of_a_sync_or_async_condition() -> None:
    seen = iter([None, 0, "found"])

    async def look() -> str | int | None:
        return next(seen)

    assert await eventually(look, "the third look") == "found"
    assert await eventually(lambda: [1], "a list") == [1]


async def test_eventually_names_what_it_waited_for_and_the_last_value() -> None:
    with pytest.raises(AssertionError, match=r"waited 0.05 s for the impossible; last seen: \[\]"):
        await eventually(lambda: [], "the impossible", timeout=0.05)


async def test_consistently_fails_as_soon_as_the_condition_breaks() -> None:
    calls = 0

    def holds() -> bool:
        nonlocal calls
        calls += 1
        return calls < 3

    with pytest.raises(AssertionError, match="the first two looks stopped holding"):
        await consistently(holds, "the first two looks", seconds=5)
    assert calls == 3


async def test_a_fake_clock_wakes_sleepers_in_deadline_order_at_their_instants() -> None:
    clock = FakeClock(start=100.0)
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append((name, clock()))

    await clock.run(asyncio.gather(sleeper("late", 3.0), sleeper("early", 1.0), sleeper("now", 0)))
    assert woke == [("now", 100.0), ("early", 101.0), ("late", 103.0)]


async def test_a_fake_clock_moved_by_hand_wakes_only_what_is_due() -> None:
    clock = FakeClock()
    sleeping = asyncio.ensure_future(clock.sleep(1.0))
    await eventually(lambda: clock.sleeping, "the sleeper to register")
    clock.advance(0.5)
    await consistently(lambda: not sleeping.done(), "the sleeper to stay asleep before its deadline", seconds=0.05)
    clock.advance(0.5)
    await sleeping
    assert clock.sleeping == 0
