"""Pruning of the lineage's step messages against a real PostgreSQL: old messages give way to their summary."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest

from tradelane.contracts import subjects
from tradelane.store.diff import diff_executions
from tradelane.store.lineage import LineageRepository, StepRecord
from tradelane.store.lineage_retention import DetailPrunedError, prune_step_messages
from tradelane.store.replay import ReplayQueries
from tradelane.store.step_summary import summarize

NOW = datetime.now(UTC)
CUTOFF = NOW - timedelta(days=7)
SIGNAL: dict[str, Any] = {
    "provider": "simulated",
    "strategy": {f"field_{n}": n for n in range(30)},
    "signal": {"action": "BUY", "entry": "61000", "stop": "60000", "targets": ["63000", "64000"], "reasons": ["x"]},
    "reasoning": "x" * 1000,
}


def _step(execution_id: UUID, step: str, occurred_at: datetime, payload: dict[str, Any]) -> StepRecord:
    return StepRecord(
        execution_id=execution_id,
        strategy_id=uuid4(),
        step=step,
        message_id=uuid4(),
        causation_id=None,
        subject=subjects.SIGNAL_GENERATED,
        stream_sequence=1,
        status="succeeded",
        payload=payload,
        occurred_at=occurred_at,
    )


async def test_old_step_messages_give_way_to_their_summary_and_recent_ones_stay(pool: asyncpg.Pool[Any]) -> None:
    lineage = LineageRepository(pool)
    old, recent = uuid4(), uuid4()
    await lineage.record(_step(old, "signal", CUTOFF - timedelta(minutes=1), SIGNAL))
    await lineage.record(_step(recent, "signal", CUTOFF + timedelta(minutes=1), SIGNAL))

    assert await prune_step_messages(pool, CUTOFF) == 1

    pruned = await lineage.execution(old)
    kept = await lineage.execution(recent)
    assert pruned is not None and kept is not None
    assert pruned.steps[0].pruned_at is not None
    # what the execution detail showed before pruning (jsonb orders the keys its own way, so from a read)
    assert pruned.steps[0].output == summarize(kept.steps[0].output)
    assert (pruned.execution.status, pruned.steps[0].status) == ("running", "succeeded")
    assert (kept.steps[0].pruned_at, kept.steps[0].output) == (None, SIGNAL)
    assert await prune_step_messages(pool, CUTOFF) == 0


async def test_the_summary_keeps_the_signals_action_and_prices_whatever_the_cap() -> None:
    summary = summarize(SIGNAL)
    assert summary["signal.action"] == "BUY"
    assert (summary["signal.entry"], summary["signal.stop"]) == ("61000", "60000")
    assert summary["signal.targets"] == "63000, 64000"
    assert "reasoning" not in summary  # past the cap: the strategy's 30 fields came first


async def test_pruning_runs_in_batches_until_nothing_old_is_left(pool: asyncpg.Pool[Any]) -> None:
    lineage = LineageRepository(pool)
    for minutes in range(5):
        await lineage.record(_step(uuid4(), "signal", CUTOFF - timedelta(minutes=minutes + 1), SIGNAL))
    assert await prune_step_messages(pool, CUTOFF, batch_size=2) == 5
    left = await pool.fetchval("SELECT count(*) FROM lineage.steps WHERE pruned_at IS NULL")
    assert left == 0


async def test_pruning_touches_no_other_schema(pool: asyncpg.Pool[Any]) -> None:
    """Executions and every other table (the ledger's signals, the broker's orders) stay as they were."""
    await LineageRepository(pool).record(_step(uuid4(), "signal", CUTOFF - timedelta(days=30), SIGNAL))
    before = await _other_tables(pool)
    assert await prune_step_messages(pool, CUTOFF) == 1
    assert await _other_tables(pool) == before


async def test_a_pruned_execution_cannot_be_diffed(pool: asyncpg.Pool[Any]) -> None:
    lineage, queries = LineageRepository(pool), ReplayQueries(pool)
    old, recent = uuid4(), uuid4()
    await lineage.record(_step(old, "signal", CUTOFF - timedelta(minutes=1), SIGNAL))
    await lineage.record(_step(recent, "signal", NOW, SIGNAL))
    await prune_step_messages(pool, CUTOFF)
    with pytest.raises(DetailPrunedError, match=f"signal message of execution {old} was pruned"):
        diff_executions(recent, await queries.messages(recent), old, await queries.messages(old))


async def _other_tables(pool: asyncpg.Pool[Any]) -> dict[str, str]:
    """Every table outside ``lineage.steps``, as a digest of its rows."""
    tables = await pool.fetch(
        "SELECT table_schema || '.' || table_name AS name FROM information_schema.tables"
        " WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')"
        " AND (table_schema, table_name) <> ('lineage', 'steps')"
    )
    digests = {}
    for table in tables:
        name = table["name"]
        digests[name] = await pool.fetchval(
            f"SELECT md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), '')) FROM {name} t"
        )
    return digests
