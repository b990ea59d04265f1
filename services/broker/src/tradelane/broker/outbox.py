"""Publishing the broker's events after the change they describe has committed (a transactional outbox).

Every event is written to ``broker.outbox`` in the same transaction as the order, fill or
position it reports, then published from there. A crash between commit and publish loses
nothing: the next flush (at start, after each change, and every few seconds) publishes it.
A repeated publish carries the same message id, which JetStream's de-duplication and the
lineage's unique step rows both drop.
"""

from __future__ import annotations

import asyncio

import structlog

from tradelane.contracts import subjects
from tradelane.runtime.bus import EventBus
from tradelane.store.book.transactions import BookRepository

log = structlog.get_logger(__name__)


class Outbox:
    """Publishes what the book committed, in commit order."""

    def __init__(self, repository: BookRepository, bus: EventBus) -> None:
        self._repository = repository
        self._bus = bus
        self._lock = asyncio.Lock()

    async def flush(self) -> int:
        """Publish every unpublished event; returns how many. A bus failure propagates after the rest is marked."""
        async with self._lock:
            total = 0
            while entries := await self._repository.unpublished():
                published: list[int] = []
                try:
                    for entry in entries:
                        contract = subjects.event_type_for(entry.subject)
                        if contract is None:
                            msg = f"outbox entry {entry.sequence} has unknown subject {entry.subject!r}"
                            raise RuntimeError(msg)
                        await self._bus.publish(contract.model_validate(entry.payload))
                        published.append(entry.sequence)
                finally:
                    if published:
                        await self._repository.mark_published(published)
                total += len(published)
            if total:
                log.debug("outbox_flushed", events=total)
            return total
