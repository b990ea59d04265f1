"""The fetch of a batch pull subscription: the first message as soon as it comes, then those waiting behind it.

nats-py's fetch of several messages (``_fetch_n``) asks first for what is waiting; when nothing is, it sends a
lingering pull and, once a message comes, waits out the rest of the pull's timeout for the batch to fill. A lone
message (a live execution reaching an idle step) would wait that second fetched but unhandled, in every step.
So a batch subscription (``Service.subscriber(batch=...)``) fetches one message as a single pull does, which
returns the moment it comes. The message says how many more the consumer holds (``num_pending``): when it holds
none, the lone message goes on at once; else up to that many more are fetched, which the server hands over
with no wait. A backtest's queued decisions so come in batches.

The second fetch has the pull's whole timeout, so that its answer is taken in full: a message the server
delivers after the client stopped waiting would sit in the subscription's queue, with no heartbeat, until the
next fetch. It waits only when the messages it was told of went to another replica meanwhile.

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
from nats.errors import NotJSMessageError

MIN_SECOND_FETCH: Final = 2
"""The second fetch asks for at least two: nats-py's fetch of one is a lingering pull, which would wait for a
new message when the one it was told of went to another replica; a fetch of several asks the server what is
waiting first."""


def fetch_first_then_waiting(subscription: Any) -> None:
    """Make ``subscription.fetch`` (a nats-py pull subscription's) return its first message as soon as it comes,
    with those the consumer holds behind it up to the batch, and raise ``nats.errors.TimeoutError`` on any
    timeout."""
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
        behind = _pending_behind(messages[0])
        if not behind:
            return messages
        try:
            return messages + await fetch_as_nats(max(min(batch - 1, behind), MIN_SECOND_FETCH), timeout)
        except nats.errors.Error:
            # gone to another replica meanwhile, or the connection went: the message in hand is handled all the same
            return messages

    subscription.fetch = fetch_first_then_more


def _pending_behind(message: Msg) -> int:
    """How many more messages the consumer held when it delivered ``message`` (0 for a message with no JetStream
    metadata)."""
    try:
        return int(message.metadata.num_pending or 0)
    except (ValueError, NotJSMessageError):
        return 0


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
