"""The lineage's retention chore: step messages older than ``lineage_detail_days`` give way to their summary.

Hourly (and once at start) is often enough: a step is pruned at most an hour after it is due,
and each run only touches what came due since the last one.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Final

import asyncpg
import structlog

from tradelane.store.lineage_retention import prune_step_messages

PRUNE_INTERVAL_SECONDS: Final = 3600.0

log = structlog.get_logger(__name__)


async def prune_expired_detail(pool: asyncpg.Pool[Any], detail_days: float) -> int:
    """Prune the messages of the steps older than ``detail_days``; how many were."""
    older_than = datetime.now(UTC) - timedelta(days=detail_days)
    pruned = await prune_step_messages(pool, older_than)
    if pruned:
        log.info("lineage_detail_pruned", steps=pruned, older_than=older_than.isoformat())
    return pruned
