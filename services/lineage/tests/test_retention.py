"""The lineage service prunes step messages older than ``lineage_detail_days`` as soon as it starts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg

from tests.support.waiting import eventually
from tradelane.contracts import subjects
from tradelane.lineage.app import build
from tradelane.runtime.settings import Settings
from tradelane.store.lineage import LineageRepository, StepRecord

MESSAGE = {"provider": "test", "bars": [1, 2, 3]}


def _step(days_ago: float) -> StepRecord:
    return StepRecord(
        execution_id=uuid4(),
        strategy_id=uuid4(),
        step="market_data",
        message_id=uuid4(),
        causation_id=None,
        subject=subjects.MARKET_DATA_FETCHED,
        stream_sequence=1,
        status="succeeded",
        payload=MESSAGE,
        occurred_at=datetime.now(UTC) - timedelta(days=days_ago),
    )


async def _pruned_at(pool: asyncpg.Pool[Any], message_id: UUID) -> datetime | None:
    pruned_at: datetime | None = await pool.fetchval(
        "SELECT pruned_at FROM lineage.steps WHERE message_id = $1", message_id
    )
    return pruned_at


async def test_the_service_prunes_what_is_older_than_the_detail_days_at_start(
    settings: Settings, pool: asyncpg.Pool[Any]
) -> None:
    lineage = LineageRepository(pool)
    old, recent = _step(days_ago=8), _step(days_ago=6)
    for record in (old, recent):
        await lineage.record(record)
    service = build(settings.model_copy(update={"lineage_detail_days": 7}))
    await service.start()
    try:
        await eventually(lambda: _pruned_at(pool, old.message_id), "the 8-day-old step pruned")
    finally:
        await service.close()
    assert await _pruned_at(pool, recent.message_id) is None
    stored = await pool.fetchval("SELECT payload FROM lineage.steps WHERE message_id = $1", old.message_id)
    assert stored == {"provider": "test", "bars": "[3 items]"}
