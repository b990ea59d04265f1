"""A batch subscription's fetch: its first message as soon as it comes, then those the consumer holds behind it,
and timeouts raised as what FastStream's pull loop takes for "nothing yet"."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import nats.errors
import pytest

from tradelane.runtime.batch_fetch import fetch_first_then_waiting, mend_batch_fetch


@dataclass(frozen=True)
class _Metadata:
    num_pending: int


@dataclass(frozen=True)
class _Message:
    """A JetStream message as far as the fetch goes: its name, and how many the consumer held behind it."""

    name: str
    behind: int = 0

    @property
    def metadata(self) -> _Metadata:
        return _Metadata(self.behind)


class _NotJetStream:
    """A core NATS message: it has no JetStream metadata."""

    @property
    def metadata(self) -> _Metadata:
        raise nats.errors.NotJSMessageError


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


async def test_a_batch_takes_its_first_message_alone_then_those_waiting_behind_it() -> None:
    subscription = _Subscription([_Message("first", behind=2)], [_Message("second"), _Message("third")])
    fetch_first_then_waiting(subscription)
    assert [m.name for m in await subscription.fetch(batch=16, timeout=1.0)] == ["first", "second", "third"]
    # the first as a single pull takes it, then as many as the consumer said it held behind it
    assert subscription.fetches == [(1, 1.0), (2, 1.0)]


async def test_the_second_fetch_takes_no_more_than_the_batch_has_room_for() -> None:
    subscription = _Subscription([_Message("first", behind=100)], [_Message(str(n)) for n in range(100)])
    fetch_first_then_waiting(subscription)
    assert len(await subscription.fetch(batch=16, timeout=1.0)) == 16
    assert subscription.fetches[1] == (15, 1.0)


async def test_a_lone_message_goes_on_with_no_second_fetch() -> None:
    for lone in (_Message("lone"), _NotJetStream()):
        subscription = _Subscription([lone])
        fetch_first_then_waiting(subscription)
        assert await subscription.fetch(batch=16, timeout=1.0) == [lone]
        assert subscription.fetches == [(1, 1.0)]


async def test_one_waiting_is_asked_for_with_a_fetch_of_two_which_asks_the_server_what_is_waiting() -> None:
    subscription = _Subscription([_Message("first", behind=1)], [_Message("second")])
    fetch_first_then_waiting(subscription)
    assert [m.name for m in await subscription.fetch(batch=16, timeout=1.0)] == ["first", "second"]
    assert subscription.fetches[1] == (2, 1.0)


async def test_the_message_in_hand_is_returned_when_those_behind_it_are_gone_or_the_second_fetch_fails() -> None:
    for error in (TimeoutError(), nats.errors.TimeoutError(), nats.errors.ConnectionClosedError()):
        first = _Message("first", behind=3)
        subscription = _Subscription([first], error)
        fetch_first_then_waiting(subscription)
        assert await subscription.fetch(batch=16, timeout=1.0) == [first]


async def test_a_fetch_of_one_is_one_fetch() -> None:
    first = _Message("first", behind=5)
    subscription = _Subscription([first])
    fetch_first_then_waiting(subscription)
    assert await subscription.fetch(batch=1, timeout=1.0) == [first]
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
