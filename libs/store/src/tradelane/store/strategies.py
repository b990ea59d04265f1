"""Strategies table (schema ``gateway``): create, read, update, delete; and the scheduler's two reads.

The scheduler keeps only when each active strategy runs (:meth:`StrategyRepository.schedules`,
a few columns per row) and reads the definitions of the runs about to start in one query each
(:meth:`StrategyRepository.active_by_ids`), so 10,000 strategies cost it neither 10,000
parsed definitions in memory nor 10,000 queries at the top of a minute.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg

from tradelane.contracts.strategy import StrategyDefinition


class StrategyNameTakenError(ValueError):
    """Another strategy already has this name."""

    def __init__(self, name: str) -> None:
        super().__init__(f"a strategy named {name!r} already exists; choose another name")
        self.name = name


@dataclass(frozen=True)
class StoredStrategy:
    """A strategy as stored: its definition plus identity and bookkeeping."""

    id: UUID
    definition: StrategyDefinition
    version: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class StrategySchedule:
    """When an active strategy runs, without its definition: what the scheduler keeps between runs.

    ``cron`` and ``timezone`` are the definition's ``schedule`` (the table keeps them in columns
    of their own); ``version`` tells a changed strategy from an unchanged one.
    """

    id: UUID
    version: int
    cron: str
    timezone: str


def _from_row(row: asyncpg.Record) -> StoredStrategy:
    return StoredStrategy(
        id=row["id"],
        definition=StrategyDefinition.model_validate(row["definition"]),
        version=row["version"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


_COLUMNS = "id, definition, version, created_at, updated_at"


class StrategyRepository:
    """Reads and writes ``gateway.strategies``."""

    def __init__(self, pool: asyncpg.Pool[Any]) -> None:
        self._pool = pool

    async def create(self, definition: StrategyDefinition, strategy_id: UUID | None = None) -> StoredStrategy:
        """Store a new strategy; raises :class:`StrategyNameTakenError` on a duplicate name."""
        try:
            row = await self._pool.fetchrow(
                f"INSERT INTO gateway.strategies (id, name, definition, active, cron, timezone)"
                f" VALUES ($1, $2, $3, $4, $5, $6) RETURNING {_COLUMNS}",
                strategy_id or uuid4(),
                definition.name,
                definition.model_dump(mode="json"),
                definition.active,
                definition.schedule.cron,
                definition.schedule.timezone,
            )
        except asyncpg.UniqueViolationError as error:
            raise StrategyNameTakenError(definition.name) from error
        assert row is not None
        return _from_row(row)

    async def get(self, strategy_id: UUID) -> StoredStrategy | None:
        row = await self._pool.fetchrow(
            f"SELECT {_COLUMNS} FROM gateway.strategies WHERE id = $1",
            strategy_id,
        )
        return _from_row(row) if row else None

    async def get_by_name(self, name: str) -> StoredStrategy | None:
        row = await self._pool.fetchrow(
            f"SELECT {_COLUMNS} FROM gateway.strategies WHERE name = $1",
            name,
        )
        return _from_row(row) if row else None

    async def schedules(self) -> list[StrategySchedule]:
        """The schedule of every active strategy (paused ones have none)."""
        rows = await self._pool.fetch("SELECT id, version, cron, timezone FROM gateway.strategies WHERE active")
        return [StrategySchedule(row["id"], row["version"], row["cron"], row["timezone"]) for row in rows]

    async def active_by_ids(self, strategy_ids: Sequence[UUID]) -> list[StoredStrategy]:
        """Those of ``strategy_ids`` that exist and are active, in one query (in no particular order)."""
        rows = await self._pool.fetch(
            f"SELECT {_COLUMNS} FROM gateway.strategies WHERE id = ANY($1::uuid[]) AND active",
            strategy_ids,
        )
        return [_from_row(row) for row in rows]

    async def list(self, *, active: bool | None = None) -> list[StoredStrategy]:
        rows = await self._pool.fetch(
            f"SELECT {_COLUMNS} FROM gateway.strategies WHERE ($1::boolean IS NULL OR active = $1) ORDER BY name",
            active,
        )
        return [_from_row(row) for row in rows]

    async def update(self, strategy_id: UUID, definition: StrategyDefinition) -> StoredStrategy | None:
        """Replace a strategy's definition (its version goes up); None when it does not exist."""
        try:
            row = await self._pool.fetchrow(
                "UPDATE gateway.strategies SET name = $2, definition = $3, active = $4, cron = $5,"
                " timezone = $6, version = version + 1, updated_at = now()"
                f" WHERE id = $1 RETURNING {_COLUMNS}",
                strategy_id,
                definition.name,
                definition.model_dump(mode="json"),
                definition.active,
                definition.schedule.cron,
                definition.schedule.timezone,
            )
        except asyncpg.UniqueViolationError as error:
            raise StrategyNameTakenError(definition.name) from error
        return _from_row(row) if row else None

    async def delete(self, strategy_id: UUID) -> bool:
        """Delete a strategy; False when it did not exist. Its executions stay in the lineage."""
        result = await self._pool.execute("DELETE FROM gateway.strategies WHERE id = $1", strategy_id)
        return bool(result == "DELETE 1")
