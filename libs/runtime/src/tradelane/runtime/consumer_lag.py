"""The consumer-lag probe: how far behind each of a service's durable consumers is, as metrics.

It runs as a background chore (:mod:`tradelane.runtime.background`), which a stopping service
ends by an event as well as a cancel: on Python 3.11, ``asyncio.wait_for`` (which nats-py's
requests, and so ``consumer_info``, use) returns the reply instead of raising
``CancelledError`` when the cancel comes after the reply has arrived but before the waiting
task has resumed (CPython gh-86296, fixed in 3.12). A probe that only a cancel could end went
on probing after such a swallowed cancel, and a service closing, which awaits it, hung.
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog
from nats.js import JetStreamContext

from tradelane.runtime.metrics import CONSUMER_ACK_PENDING, CONSUMER_PENDING
from tradelane.runtime.streams import ConsumerSpec

log = structlog.get_logger(__name__)

PROBE_TIMEOUT_SECONDS = 5.0
"""How long one consumer's info may take."""


class ConsumerLagProbe:
    """Refreshes the pending and ack-pending gauges of a service's ``consumers``.

    A service runs :meth:`refresh` as a chore of its :class:`~tradelane.runtime.background.BackgroundTasks`,
    which stops it by an event as well as by a cancel.
    """

    def __init__(self, js: JetStreamContext, consumers: Sequence[ConsumerSpec]) -> None:
        self._js = js
        self._consumers = consumers

    async def refresh(self) -> None:
        """One round: every consumer's gauges."""
        for spec in self._consumers:
            await self._probe(spec)

    async def _probe(self, spec: ConsumerSpec) -> None:
        """One consumer's gauges; a consumer whose info is unavailable keeps its last values until the next round."""
        try:
            info = await self._js.consumer_info(spec.stream, spec.durable, timeout=PROBE_TIMEOUT_SECONDS)
        except Exception as error:
            log.debug("consumer_lag_unavailable", consumer=spec.durable, error=str(error))
            return
        CONSUMER_PENDING.labels(spec.durable).set(info.num_pending or 0)
        CONSUMER_ACK_PENDING.labels(spec.durable).set(info.num_ack_pending or 0)
