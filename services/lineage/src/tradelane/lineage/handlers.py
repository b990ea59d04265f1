"""The lineage subscriber: every message on the bus becomes one idempotent step record."""

from __future__ import annotations

from typing import Any

import structlog
from faststream.nats.annotations import NatsMessage

from tradelane.lineage.recording import UnattributableMessageError, step_record
from tradelane.runtime.errors import PermanentStepError
from tradelane.store.lineage import LineageRepository

log = structlog.get_logger(__name__)


class LineageRecorder:
    """Writes what it hears to the lineage tables; a redelivered message adds nothing."""

    def __init__(self, repository: LineageRepository) -> None:
        self._repository = repository

    async def on_message(self, body: dict[str, Any], message: NatsMessage) -> None:
        """Record one message (Postgres errors propagate and are retried by the delivery rules)."""
        raw = message.raw_message
        try:
            record = step_record(raw.subject, body, stream_sequence=raw.metadata.sequence.stream, headers=raw.headers)
        except UnattributableMessageError as error:
            raise PermanentStepError(f"message on {raw.subject} belongs to no execution: {error}") from error
        inserted = await self._repository.record(record)
        log.debug("step_recorded" if inserted else "step_already_recorded", step=record.step)
