"""The consumer-lag probe: how far behind each of a service's durable consumers is, as metrics.

It stops when told to, not only when cancelled. On Python 3.11, ``asyncio.wait_for`` (which
nats-py's requests, and so ``consumer_info``, use) returns the reply instead of raising
``CancelledError`` when the cancel comes after the reply has arrived but before the waiting
task has resumed (CPython gh-86296, fixed in 3.12). A probe that only a cancel could end went
on probing after such a swallowed cancel, and a service closing, which awaits it, hung.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

import structlog
from nats.js import JetStreamContext

from tradelane.runtime.metrics import CONSUMER_ACK_PENDING, CONSUMER_PENDING
from tradelane.runtime.streams import ConsumerSpec

log = structlog.get_logger(__name__)

PROBE_TIMEOUT_SECONDS = 5.0
"""How long one consumer's info may take; a stopping service waits at most this for the probe."""


class ConsumerLagProbe:
    """Refreshes the pending and ack-pending gauges of ``consumers`` every ``interval_seconds`` until stopped."""

    def __init__(self, js: JetStreamContext, consumers: Sequence[ConsumerSpec], interval_seconds: float) -> None:
        self._js = js
        self._consumers = consumers
        self._interval = interval_seconds
        self._stopped = asyncio.Event()

    def stop(self) -> None:
        """Ask :meth:`run` to return: at once when waiting, else after the consumer it is asking about."""
        self._stopped.set()

    async def run(self) -> None:
        """Probe until :meth:`stop` (or a cancel that nats-py does not swallow)."""
        while not self._stopped.is_set():
            for spec in self._consumers:
                if self._stopped.is_set():
                    return
                await self._probe(spec)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._interval):
                    await self._stopped.wait()

    async def _probe(self, spec: ConsumerSpec) -> None:
        """One consumer's gauges; a consumer whose info is unavailable keeps its last values until the next round."""
        try:
            info = await self._js.consumer_info(spec.stream, spec.durable, timeout=PROBE_TIMEOUT_SECONDS)
        except Exception as error:
            log.debug("consumer_lag_unavailable", consumer=spec.durable, error=str(error))
            return
        CONSUMER_PENDING.labels(spec.durable).set(info.num_pending or 0)
        CONSUMER_ACK_PENDING.labels(spec.durable).set(info.num_ack_pending or 0)
