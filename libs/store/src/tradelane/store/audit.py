"""The audit trail (``auth.audit``): append and search; a trigger refuses UPDATE, DELETE and TRUNCATE."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final
from uuid import UUID

import asyncpg

MAX_SUMMARY_CHARS: Final = 500
CLI_METHOD: Final = "CLI"
"""The ``method`` of entries written by the ``tradelane`` command rather than through the API."""


@dataclass(frozen=True)
class AuditEntry:
    """One change, or one attempt at one.

    ``status`` is the HTTP status of the answer; entries written by the CLI (method
    :data:`CLI_METHOD`) carry 0, the command's exit code.
    """

    method: str
    path: str
    status: int
    token_id: UUID | None = None
    token_name: str | None = None
    scope: str | None = None
    body_sha256: str | None = None
    summary: str = ""
    client: str | None = None


@dataclass(frozen=True, kw_only=True)
class AuditRecord(AuditEntry):
    """An entry as stored: its id and when it was written."""

    id: int
    at: datetime


@dataclass(frozen=True)
class AuditFilter:
    """Which entries to return; every field left None matches everything."""

    since: datetime | None = None
    until: datetime | None = None
    token_name: str | None = None
    path_prefix: str | None = None
    method: str | None = None
    status_from: int | None = None
    status_to: int | None = None
    """Statuses in ``[status_from, status_to]`` (both inclusive)."""


_COLUMNS = "id, at, token_id, token_name, scope, method, path, body_sha256, summary, status, client"


class AuditRepository:
    """Appends to and reads ``auth.audit``."""

    def __init__(self, pool: asyncpg.Pool[Any] | asyncpg.Connection[Any]) -> None:
        self._db = pool

    async def append(self, entry: AuditEntry) -> int:
        """Write one entry; returns its id."""
        entry_id: int = await self._db.fetchval(
            "INSERT INTO auth.audit (token_id, token_name, scope, method, path, body_sha256, summary, status, client)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
            entry.token_id,
            entry.token_name,
            entry.scope,
            entry.method,
            entry.path,
            entry.body_sha256,
            entry.summary[:MAX_SUMMARY_CHARS],
            entry.status,
            entry.client,
        )
        return entry_id

    async def search(self, where: AuditFilter, *, limit: int) -> list[AuditRecord]:
        """Matching entries, newest first, at most ``limit``."""
        checks = {
            "at >= $": where.since,
            "at < $": where.until,
            "token_name = $": where.token_name,
            "starts_with(path, $": where.path_prefix,
            "method = $": where.method,
            "status >= $": where.status_from,
            "status <= $": where.status_to,
        }
        conditions: list[str] = []
        values: list[object] = []
        for condition, value in checks.items():
            if value is None:
                continue
            values.append(value)
            closing = ")" if condition.startswith("starts_with") else ""
            conditions.append(f"{condition}{len(values)}{closing}")
        clause = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        values.append(limit)
        rows = await self._db.fetch(
            f"SELECT {_COLUMNS} FROM auth.audit{clause} ORDER BY at DESC, id DESC LIMIT ${len(values)}", *values
        )
        return [AuditRecord(**dict(row)) for row in rows]
