"""A batch pull subscription whose empty fetch ends the way FastStream's pull loop expects.

FastStream's pull loop (``PullStreamSubscriber._consume_pull``) takes nats-py's ``nats.errors.TimeoutError``
for "nothing to fetch" and fetches again; nats-py's fetch of one message raises that one. Its fetch of several
(``_fetch_n``) raises asyncio's plain ``TimeoutError`` instead when its no-wait probe comes back after the
fetch's whole deadline (a busy machine, a server draining at shutdown): that one escapes the loop, and the
subscriber stops fetching for good, its consumer's messages left unhandled until the service restarts. So the
fetch of each batch subscription (``Service.subscriber(batch=...)``) raises nats-py's own instead, from the moment
FastStream creates the subscription (a service stopped while it starts fetches too).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import nats.errors
from nats.aio.msg import Msg


def fetch_times_out_as_nats(subscription: Any) -> None:
    """Make ``subscription.fetch`` (a nats-py pull subscription's) raise ``nats.errors.TimeoutError`` on any timeout."""
    fetch: Callable[..., Awaitable[list[Msg]]] = subscription.fetch

    async def fetch_or_time_out(*args: Any, **kwargs: Any) -> list[Msg]:
        try:
            return await fetch(*args, **kwargs)
        except nats.errors.TimeoutError:
            raise
        except TimeoutError as error:
            raise nats.errors.TimeoutError from error

    subscription.fetch = fetch_or_time_out


def mend_batch_fetch(subscriber: Any) -> None:
    """Have ``subscriber`` (FastStream's pull subscriber) mend its subscription's fetch as it creates it.

    FastStream creates the subscription and schedules its pull loop in ``_create_subscription``; the fetch is
    mended before that returns, so before the loop's first fetch.
    """
    create: Callable[[], Awaitable[None]] = subscriber._create_subscription

    async def create_and_mend() -> None:
        await create()
        fetch_times_out_as_nats(subscriber.subscription)

    subscriber._create_subscription = create_and_mend
