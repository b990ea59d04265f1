"""Pruning of the lineage's step messages once they are older than the lineage keeps them in full.

A step's message (prompts, model answers, references to bars and series) is what makes the
lineage large. Past ``lineage_detail_days`` it is replaced by its summary (:func:`summarize`,
what the execution detail shows anyway) and ``pruned_at`` is set. Everything else stays: the
executions, each step's status, error, timing and subject, and every schema other than
``lineage`` (the ledger's signals, the broker's orders).

Rows are pruned in bounded batches, one transaction each, so the chore never holds many row
locks or one long transaction beside the recorder's inserts; ``SKIP LOCKED`` lets two lineage
replicas prune side by side.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final
from uuid import UUID

import asyncpg

from tradelane.store.step_summary import summarize

BATCH_SIZE: Final = 500
"""Steps pruned per transaction."""


class DetailPrunedError(LookupError):
    """A message the caller needs in full was pruned: only its summary is left."""

    def __init__(self, execution_id: UUID, what: str, pruned_at: datetime) -> None:
        super().__init__(
            f"the {what} of execution {execution_id} was pruned on {pruned_at:%Y-%m-%d}: only its summary is left"
        )
        self.execution_id = execution_id
        self.what = what
        self.pruned_at = pruned_at


async def prune_step_messages(pool: asyncpg.Pool[Any], older_than: datetime, *, batch_size: int = BATCH_SIZE) -> int:
    """Replace the message of every step that occurred before ``older_than`` with its summary; how many were."""
    pruned = 0
    while True:
        async with pool.acquire() as connection, connection.transaction():
            rows = await connection.fetch(
                "SELECT id, payload FROM lineage.steps WHERE pruned_at IS NULL AND occurred_at < $1"
                " ORDER BY occurred_at LIMIT $2 FOR UPDATE SKIP LOCKED",
                older_than,
                batch_size,
            )
            await connection.executemany(
                "UPDATE lineage.steps SET payload = $2, pruned_at = now() WHERE id = $1",
                [(row["id"], summarize(row["payload"])) for row in rows],
            )
        pruned += len(rows)
        if len(rows) < batch_size:
            return pruned
