"""A batch subscription's fetch that runs out of time raises what FastStream's pull loop takes for "nothing yet"."""

from __future__ import annotations

from typing import Any

import nats.errors
import pytest

from tradelane.runtime.batch_fetch import fetch_times_out_as_nats, mend_batch_fetch


class _Subscription:
    """A pull subscription whose fetch raises ``error``, or returns no message."""

    def __init__(self, error: BaseException | None) -> None:
        self.error = error

    async def fetch(self, batch: int = 1, timeout: float | None = 5) -> list[Any]:
        if self.error is not None:
            raise self.error
        return []


async def test_asyncios_timeout_of_a_batch_fetch_becomes_nats_pys() -> None:
    subscription = _Subscription(TimeoutError())
    fetch_times_out_as_nats(subscription)
    with pytest.raises(nats.errors.TimeoutError):
        await subscription.fetch(batch=100, timeout=1.0)


async def test_nats_pys_own_timeout_and_other_errors_pass_as_they_are() -> None:
    for error in (nats.errors.TimeoutError(), nats.errors.ConnectionClosedError()):
        subscription = _Subscription(error)
        fetch_times_out_as_nats(subscription)
        with pytest.raises(type(error)) as raised:
            await subscription.fetch(batch=100, timeout=1.0)
        assert raised.value is error


async def test_a_fetch_that_gets_nothing_returns_nothing() -> None:
    subscription = _Subscription(None)
    fetch_times_out_as_nats(subscription)
    assert await subscription.fetch(batch=100, timeout=1.0) == []


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
