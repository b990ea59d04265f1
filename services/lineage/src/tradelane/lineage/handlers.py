"""The lineage subscriber: every message on the bus becomes one idempotent step record."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import asyncpg
import structlog

from tradelane.contracts import subjects
from tradelane.lineage.group_commit import StepWriter
from tradelane.lineage.recording import DEAD_LETTER_STEP, UnattributableMessageError, step_record
from tradelane.lineage.redrives import redrive_failure, redrive_failure_id, redriven_step
from tradelane.runtime.deadletters import REDRIVE_HEADER
from tradelane.runtime.errors import PermanentStepError
from tradelane.runtime.injection import NatsMessage
from tradelane.store.lineage import LineageRepository, StepRecord

log = structlog.get_logger(__name__)


class LineageRecorder:
    """Writes what it hears to the lineage tables; a redelivered message adds nothing."""

    def __init__(self, repository: LineageRepository) -> None:
        self._repository = repository
        self._steps = StepWriter(repository)

    async def on_message(self, body: dict[str, Any], message: NatsMessage) -> None:
        """Record one message, in one transaction with those handled at the same time (see ``group_commit``).

        Postgres errors propagate and are retried by the delivery rules.

        A message PostgreSQL refuses as data (``DataError``) is a permanent failure: it is dead-lettered at once.
        """
        raw = message.raw_message
        try:
            record = step_record(raw.subject, body, stream_sequence=raw.metadata.sequence.stream, headers=raw.headers)
        except UnattributableMessageError as error:
            if subjects.is_dead_letter(raw.subject):
                # It stays in the dead-letter stream; failing here would dead-letter the dead letter, endlessly.
                log.warning("dead_letter_unattributable", dead_letter_subject=raw.subject, error=str(error))
                return
            raise PermanentStepError(f"message on {raw.subject} belongs to no execution: {error}") from error
        record = replace(record, payload_json=raw.data.decode())
        redrive_of = (raw.headers or {}).get(REDRIVE_HEADER)
        if redrive_of is not None and record.step == DEAD_LETTER_STEP:
            record = redrive_failure(record, redrive_of)
        try:
            inserted = await self._steps.record(record)
            if redrive_of is not None and record.step != DEAD_LETTER_STEP:
                await self._record_redrive(record, redrive_of)
        except asyncpg.DataError as error:
            # PostgreSQL will never store it (a NUL character, Infinity or NaN in the JSON): retrying cannot help
            raise PermanentStepError(
                f"the lineage cannot store this message: {type(error).__name__}: {error}"
            ) from error
        log.debug("step_recorded" if inserted else "step_already_recorded", step=record.step)

    async def _record_redrive(self, record: StepRecord, redrive_of: str) -> None:
        await self._repository.record(redriven_step(record, redrive_of))
        reopened = await self._repository.reopen_for_redrive(
            record.execution_id, redrive_failure_id(record.message_id, redrive_of)
        )
        log.info("message_redriven", step=record.step, dead_letter_id=redrive_of, execution_reopened=reopened)
