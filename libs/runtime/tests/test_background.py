"""Background tasks run their chores, survive a failing run, and never hang a stopping service."""

from __future__ import annotations

import asyncio

from structlog.testing import capture_logs

from tests.support.waiting import eventually
from tradelane.runtime.background import BackgroundTasks


async def test_a_chore_runs_every_interval_and_a_failing_run_does_not_end_it() -> None:
    runs = 0

    async def chore() -> None:
        nonlocal runs
        runs += 1
        if runs == 1:
            raise RuntimeError("the first run fails")

    background = BackgroundTasks()
    with capture_logs() as logs:
        background.every(0.01, chore, "count")
        await eventually(lambda: runs >= 3, "three runs of the chore")
        await asyncio.wait_for(background.stop(), 1)
    assert [entry["chore"] for entry in logs if entry["event"] == "background_chore_failed"] == ["count"]


async def test_a_chore_asked_to_run_at_once_runs_before_its_first_interval() -> None:
    runs = 0

    async def chore() -> None:
        nonlocal runs
        runs += 1

    background = BackgroundTasks()
    background.every(3600, chore, "hourly", at_once=True)
    await eventually(lambda: runs == 1, "the first run, without waiting an hour")
    await asyncio.wait_for(background.stop(), 1)
    assert runs == 1


async def test_stopping_ends_a_chore_at_once_while_it_waits() -> None:
    async def nothing() -> None:
        return None

    background = BackgroundTasks()
    background.every(3600, nothing, "hourly")
    loop = asyncio.get_running_loop()
    started = loop.time()
    await background.stop(wait_seconds=5)
    assert loop.time() - started < 1


async def test_a_task_that_swallows_its_cancel_is_left_after_the_wait_and_named() -> None:
    """As a nats-py request on Python 3.11 may (CPython gh-86296): the stop still returns."""
    release = asyncio.Event()

    async def stubborn() -> None:
        while not release.is_set():
            try:
                await asyncio.sleep(0.01)
            except asyncio.CancelledError:
                continue

    background = BackgroundTasks()
    background.start(stubborn(), "stubborn")
    with capture_logs() as logs:
        await asyncio.wait_for(background.stop(wait_seconds=0.2), 2)
    assert [entry["task"] for entry in logs if entry["event"] == "background_task_still_running_at_stop"] == [
        "stubborn"
    ]
    release.set()
