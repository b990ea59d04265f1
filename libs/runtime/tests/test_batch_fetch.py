"""A batch subscription's fetch: its first message as soon as it comes, then what else is waiting, and
timeouts raised as what FastStream's pull loop takes for "nothing yet"."""

from __future__ import annotations

from typing import Any

import nats.errors
import pytest

from tradelane.runtime.batch_fetch import WAITING_TIMEOUT_SECONDS, fetch_first_then_waiting, mend_batch_fetch


class _Subscription:
    """A pull subscription whose fetches answer in turn from ``answers``: messages, or an error to raise."""

    def __init__(self, *answers: list[Any] | BaseException) -> None:
        self.answers = list(answers)
        self.fetches: list[tuple[int, float | None]] = []

    async def fetch(self, batch: int = 1, timeout: float | None = 5) -> list[Any]:
        self.fetches.append((batch, timeout))
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer[:batch]


async def test_a_batch_takes_its_first_message_alone_then_what_else_is_waiting() -> None:
    subscription = _Subscription(["first"], ["second", "third"])
    fetch_first_then_waiting(subscription)
    assert await subscription.fetch(batch=16, timeout=1.0) == ["first", "second", "third"]
    # a lone message is not held while a lingering pull of 16 waits out its timeout for more
    assert subscription.fetches == [(1, 1.0), (15, WAITING_TIMEOUT_SECONDS)]


async def test_the_message_in_hand_is_returned_when_nothing_else_is_waiting_or_the_second_fetch_fails() -> None:
    for error in (TimeoutError(), nats.errors.TimeoutError(), nats.errors.ConnectionClosedError()):
        subscription = _Subscription(["only"], error)
        fetch_first_then_waiting(subscription)
        assert await subscription.fetch(batch=16, timeout=1.0) == ["only"]


async def test_a_fetch_of_one_is_one_fetch() -> None:
    subscription = _Subscription(["only"])
    fetch_first_then_waiting(subscription)
    assert await subscription.fetch(batch=1, timeout=1.0) == ["only"]
    assert subscription.fetches == [(1, 1.0)]


async def test_asyncios_timeout_of_the_first_fetch_becomes_nats_pys() -> None:
    subscription = _Subscription(TimeoutError())
    fetch_first_then_waiting(subscription)
    with pytest.raises(nats.errors.TimeoutError):
        await subscription.fetch(batch=100, timeout=1.0)


async def test_nats_pys_own_timeout_and_other_errors_of_the_first_fetch_pass_as_they_are() -> None:
    for error in (nats.errors.TimeoutError(), nats.errors.ConnectionClosedError()):
        subscription = _Subscription(error)
        fetch_first_then_waiting(subscription)
        with pytest.raises(type(error)) as raised:
            await subscription.fetch(batch=100, timeout=1.0)
        assert raised.value is error


async def test_a_fetch_that_gets_nothing_returns_nothing() -> None:
    subscription = _Subscription([])
    fetch_first_then_waiting(subscription)
    assert await subscription.fetch(batch=100, timeout=1.0) == []
    assert len(subscription.fetches) == 1


class _Subscriber:
    """FastStream's pull subscriber as far as mending goes: it creates its subscription when it starts."""

    subscription: _Subscription | None = None

    async def _create_subscription(self) -> None:
        self.subscription = _Subscription(TimeoutError())


async def test_a_subscriber_mends_the_fetch_of_the_subscription_it_creates() -> None:
    subscriber = _Subscriber()
    mend_batch_fetch(subscriber)
    await subscriber._create_subscription()
    assert subscriber.subscription is not None
    with pytest.raises(nats.errors.TimeoutError):
        await subscriber.subscription.fetch(batch=100, timeout=1.0)
