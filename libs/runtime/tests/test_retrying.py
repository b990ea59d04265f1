"""The shared backoff policy and retry loop: capped doubling, jitter bounds, give-up, hooks."""

from __future__ import annotations

import pytest

from tradelane.runtime.retrying import Backoff, retry


class RecordedSleeps:
    """Stands in for asyncio.sleep: remembers each delay instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


class Flaky:
    """Fails with ``error`` the first ``failures`` times it is called, then returns the attempt number."""

    def __init__(self, failures: int, error: Exception | None = None) -> None:
        self.failures = failures
        self.error = error or ConnectionError("down")
        self.calls: list[int] = []

    async def __call__(self, attempt: int) -> int:
        self.calls.append(attempt)
        if len(self.calls) <= self.failures:
            raise self.error
        return attempt


def test_steps_double_from_the_first_delay_up_to_the_cap() -> None:
    backoff = Backoff(initial=0.5, cap=4.0)
    assert [backoff.step(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert backoff.step(10_000) == 4.0


def test_without_jitter_the_delay_is_the_step() -> None:
    backoff = Backoff(initial=1.0, cap=8.0)
    assert [backoff.delay(n) for n in range(1, 6)] == [1.0, 2.0, 4.0, 8.0, 8.0]


def test_jitter_spans_from_below_to_above_the_step() -> None:
    backoff = Backoff(initial=1.0, cap=60.0, jitter_below=0.2, jitter_above=0.1)
    assert backoff.delay(3, rand=lambda: 0.0) == pytest.approx(4.4)
    assert backoff.delay(3, rand=lambda: 1.0) == pytest.approx(3.2)
    assert backoff.shortest(3) == pytest.approx(3.2)
    delays = {backoff.delay(3) for _ in range(200)}
    assert all(3.2 <= delay <= 4.4 for delay in delays)
    assert len(delays) > 1


async def test_a_retried_error_is_tried_again_after_each_backoff() -> None:
    sleeps, flaky = RecordedSleeps(), Flaky(failures=3)
    result = await retry(flaky, wait=Backoff(initial=1.0, cap=3.0), retry_on=ConnectionError, sleep=sleeps)
    assert result == 4
    assert flaky.calls == [1, 2, 3, 4]
    assert sleeps.delays == [1.0, 2.0, 3.0]


async def test_an_error_not_retried_is_raised_at_once() -> None:
    sleeps, flaky = RecordedSleeps(), Flaky(failures=1, error=ValueError("bug"))
    with pytest.raises(ValueError, match="bug"):
        await retry(flaky, wait=Backoff(initial=1.0, cap=3.0), retry_on=ConnectionError, sleep=sleeps)
    assert sleeps.delays == []


async def test_giving_up_raises_the_last_error_itself() -> None:
    sleeps, flaky = RecordedSleeps(), Flaky(failures=5)
    with pytest.raises(ConnectionError, match="down"):
        await retry(flaky, wait=Backoff(initial=1.0, cap=3.0), give_up=lambda failures, _: failures >= 2, sleep=sleeps)
    assert flaky.calls == [1, 2]
    assert sleeps.delays == [1.0]


async def test_give_up_sees_the_coming_wait() -> None:
    seen: list[tuple[int, float]] = []

    def give_up(failures: int, wait: float) -> bool:
        seen.append((failures, wait))
        return wait > 1.5

    with pytest.raises(ConnectionError):
        await retry(Flaky(failures=5), wait=Backoff(initial=1.0, cap=8.0), give_up=give_up, sleep=RecordedSleeps())
    assert seen == [(1, 1.0), (2, 2.0)]


async def test_a_wait_function_gets_the_failure_count_and_the_error() -> None:
    error = ConnectionError("busy")
    seen: list[tuple[int, BaseException]] = []

    def wait(failures: int, failed_with: BaseException) -> float:
        seen.append((failures, failed_with))
        return 7.0

    sleeps = RecordedSleeps()
    assert await retry(Flaky(failures=2, error=error), wait=wait, sleep=sleeps) == 3
    assert seen == [(1, error), (2, error)]
    assert sleeps.delays == [7.0, 7.0]


async def test_on_retry_hears_of_each_wait_before_it() -> None:
    heard: list[tuple[int, str, float]] = []
    await retry(
        Flaky(failures=2),
        wait=Backoff(initial=1.0, cap=8.0),
        on_retry=lambda failures, error, wait: heard.append((failures, str(error), wait)),
        sleep=RecordedSleeps(),
    )
    assert heard == [(1, "down", 1.0), (2, "down", 2.0)]
