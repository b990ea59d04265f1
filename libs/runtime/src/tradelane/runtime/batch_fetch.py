"""The fetch of a batch pull subscription: the first message as soon as it comes, then whatever else is waiting.

nats-py's fetch of several messages (``_fetch_n``) asks first for what is waiting; when nothing is, it sends a
lingering pull and, once a message comes, waits out the rest of the pull's timeout for the batch to fill. A lone
message (a live execution reaching an idle step) would wait that second fetched but unhandled, in every step.
So a batch subscription (``Service.subscriber(batch=...)``) fetches one message as a single pull does, which
returns the moment it comes, then asks for what else is waiting: a backtest's queued decisions come in
batches, a lone message goes on once that second pull finds nothing (:data:`WAITING_TIMEOUT_SECONDS` at
most). Letting messages gather for 20 ms before the second pull made no difference to a backtest's rate that
``bench.backtest`` could tell from its noise.

Both fetches raise nats-py's ``nats.errors.TimeoutError`` on a timeout, which FastStream's pull loop
(``PullStreamSubscriber._consume_pull``) takes for "nothing to fetch" and fetches again. nats-py's fetch of
several raises asyncio's plain ``TimeoutError`` instead when its no-wait probe comes back after the fetch's
deadline (a busy machine, a server draining at shutdown): that one would escape the loop, and the subscriber
would stop fetching for good. The mended fetch is in place from the moment FastStream creates the
subscription, before its loop's first fetch.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Final

import nats.errors
from nats.aio.msg import Msg

WAITING_TIMEOUT_SECONDS: Final = 0.002
"""How long the second fetch of a batch may take. What is waiting comes at once; when nothing is, nats-py follows
its no-wait probe with a lingering pull, which this cuts short. At 10 ms, a lone execution took 45 ms longer
through the five steps (``bench.pipeline``, daily p50 83 ms against 39); a probe answered later than this leaves
its messages in the subscription's queue, where the next fetch takes them first."""


def fetch_first_then_waiting(subscription: Any) -> None:
    """Make ``subscription.fetch`` (a nats-py pull subscription's) return its first message as soon as it comes,
    with what else is waiting up to the batch, and raise ``nats.errors.TimeoutError`` on any timeout."""
    fetch: Callable[..., Awaitable[list[Msg]]] = subscription.fetch

    async def fetch_as_nats(batch: int, timeout: float | None) -> list[Msg]:  # noqa: ASYNC109 - nats-py's
        try:
            return await fetch(batch=batch, timeout=timeout)
        except nats.errors.TimeoutError:
            raise
        except TimeoutError as error:
            raise nats.errors.TimeoutError from error

    async def fetch_first_then_more(batch: int = 1, timeout: float | None = 5) -> list[Msg]:  # noqa: ASYNC109
        messages = await fetch_as_nats(1, timeout)
        if batch <= 1 or not messages:
            return messages
        try:
            return messages + await fetch_as_nats(batch - 1, WAITING_TIMEOUT_SECONDS)
        except nats.errors.Error:
            # nothing more waiting, or the connection went: the message in hand is handled all the same
            return messages

    subscription.fetch = fetch_first_then_more


def mend_batch_fetch(subscriber: Any) -> None:
    """Have ``subscriber`` (FastStream's pull subscriber) mend its subscription's fetch as it creates it.

    FastStream creates the subscription and schedules its pull loop in ``_create_subscription``; the fetch is
    mended before that returns, so before the loop's first fetch.
    """
    create: Callable[[], Awaitable[None]] = subscriber._create_subscription

    async def create_and_mend() -> None:
        await create()
        fetch_first_then_waiting(subscriber.subscription)

    subscriber._create_subscription = create_and_mend
