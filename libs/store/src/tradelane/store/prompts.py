"""Prompt templates (schema ``gateway``): versioned text plus the fields that select a template.

Every change of a template's text adds a version; the other fields (name, language, scope,
active, default, tags, notes) change in place. Old versions stay readable by number. At most
one template per type, language and scope (global, or one strategy) is the default; making
one the default clears the flag on the previous one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal
from uuid import UUID, uuid4

import asyncpg
from asyncpg.pool import PoolConnectionProxy

PromptType = Literal["analysis", "consolidation", "system"]
PromptLanguage = Literal["en", "zh"]


class PromptNameTakenError(ValueError):
    """Another template already has this name."""

    def __init__(self, name: str) -> None:
        super().__init__(f"a prompt template named {name!r} already exists; choose another name")
        self.name = name


class PromptInUseError(ValueError):
    """Strategies still point at the template (``analysis.prompt_template_id``)."""

    def __init__(self, template_id: UUID, strategies: Sequence[str]) -> None:
        names = ", ".join(repr(name) for name in strategies)
        super().__init__(
            f"prompt template {template_id} is used by the strategies {names}; "
            "point their analysis.prompt_template_id elsewhere (or to null) first"
        )
        self.strategies = tuple(strategies)


@dataclass(frozen=True)
class PromptFields:
    """Everything about a template except its text."""

    name: str
    type: PromptType
    language: PromptLanguage = "en"
    strategy_id: UUID | None = None
    """Scope: None is global, else the one strategy the template is for."""
    active: bool = True
    is_default: bool = False
    tags: tuple[str, ...] = ()
    notes: str = ""


@dataclass(frozen=True)
class PromptTemplate:
    """A template at one version: the latest, unless it was fetched by version number."""

    id: UUID
    fields: PromptFields
    version: int
    latest_version: int
    text: str
    created_at: datetime
    updated_at: datetime
    version_created_at: datetime


@dataclass(frozen=True)
class PromptVersion:
    """One version of a template's text."""

    version: int
    text: str
    created_at: datetime


_SELECT = (
    "SELECT t.id, t.name, t.type, t.language, t.strategy_id, t.active, t.is_default, t.tags, t.notes,"
    " t.version AS latest_version, t.created_at, t.updated_at,"
    " v.version, v.text, v.created_at AS version_created_at"
    " FROM gateway.prompt_templates t"
    " JOIN gateway.prompt_template_versions v ON v.template_id = t.id"
)


def _from_row(row: asyncpg.Record) -> PromptTemplate:
    return PromptTemplate(
        id=row["id"],
        fields=PromptFields(
            name=row["name"],
            type=row["type"],
            language=row["language"],
            strategy_id=row["strategy_id"],
            active=row["active"],
            is_default=row["is_default"],
            tags=tuple(row["tags"]),
            notes=row["notes"],
        ),
        version=row["version"],
        latest_version=row["latest_version"],
        text=row["text"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        version_created_at=row["version_created_at"],
    )


class PromptRepository:
    """Reads and writes ``gateway.prompt_templates`` and their versions."""

    def __init__(self, pool: asyncpg.Pool[Any]) -> None:
        self._pool = pool

    async def create(self, fields: PromptFields, text: str, template_id: UUID | None = None) -> PromptTemplate:
        """Store a new template at version 1; raises :class:`PromptNameTakenError` on a duplicate name."""
        new_id = template_id or uuid4()
        async with self._pool.acquire() as connection, connection.transaction():
            if fields.is_default:
                await self._clear_default(connection, fields, new_id)
            try:
                await connection.execute(
                    "INSERT INTO gateway.prompt_templates"
                    " (id, name, type, language, strategy_id, active, is_default, tags, notes, version)"
                    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 1)",
                    new_id,
                    fields.name,
                    fields.type,
                    fields.language,
                    fields.strategy_id,
                    fields.active,
                    fields.is_default,
                    list(fields.tags),
                    fields.notes,
                )
            except asyncpg.UniqueViolationError as error:
                raise PromptNameTakenError(fields.name) from error
            await connection.execute(
                "INSERT INTO gateway.prompt_template_versions (template_id, version, text) VALUES ($1, 1, $2)",
                new_id,
                text,
            )
            row = await connection.fetchrow(f"{_SELECT} WHERE t.id = $1 AND v.version = 1", new_id)
        assert row is not None
        return _from_row(row)

    async def get(self, template_id: UUID, version: int | None = None) -> PromptTemplate | None:
        """A template at ``version`` (default: the latest); None when either does not exist."""
        row = await self._pool.fetchrow(
            f"{_SELECT} WHERE t.id = $1 AND v.version = COALESCE($2, t.version)",
            template_id,
            version,
        )
        return _from_row(row) if row else None

    async def versions(self, template_id: UUID) -> list[PromptVersion]:
        """Every version of a template's text, oldest first (empty when it does not exist)."""
        rows = await self._pool.fetch(
            "SELECT version, text, created_at FROM gateway.prompt_template_versions"
            " WHERE template_id = $1 ORDER BY version",
            template_id,
        )
        return [PromptVersion(row["version"], row["text"], row["created_at"]) for row in rows]

    async def list(
        self,
        *,
        type: PromptType | None = None,  # noqa: A002 - the filter's name in the API
        language: PromptLanguage | None = None,
        strategy_id: UUID | None = None,
        active: bool | None = None,
        tags: Sequence[str] = (),
    ) -> list[PromptTemplate]:
        """Templates at their latest version, by name; each filter given narrows the list.

        ``strategy_id`` keeps the templates scoped to that strategy; ``tags`` keeps those that
        carry every tag given.
        """
        rows = await self._pool.fetch(
            f"{_SELECT} WHERE v.version = t.version"
            " AND ($1::text IS NULL OR t.type = $1) AND ($2::text IS NULL OR t.language = $2)"
            " AND ($3::uuid IS NULL OR t.strategy_id = $3) AND ($4::boolean IS NULL OR t.active = $4)"
            " AND t.tags @> $5::text[]"
            " ORDER BY t.name",
            type,
            language,
            strategy_id,
            active,
            list(tags),
        )
        return [_from_row(row) for row in rows]

    async def update(self, template_id: UUID, fields: PromptFields, text: str) -> PromptTemplate | None:
        """Replace a template's fields; a text different from the latest adds a version.

        The type cannot change (``fields.type`` is ignored). None when the template does not exist.
        """
        async with self._pool.acquire() as connection, connection.transaction():
            current = await connection.fetchrow(
                f"{_SELECT} WHERE t.id = $1 AND v.version = t.version FOR UPDATE OF t", template_id
            )
            if current is None:
                return None
            kept = _from_row(current)
            fields = replace(fields, type=kept.fields.type)
            if fields.is_default:
                await self._clear_default(connection, fields, template_id)
            version = kept.version + 1 if text != kept.text else kept.version
            if version != kept.version:
                await connection.execute(
                    "INSERT INTO gateway.prompt_template_versions (template_id, version, text) VALUES ($1, $2, $3)",
                    template_id,
                    version,
                    text,
                )
            try:
                await connection.execute(
                    "UPDATE gateway.prompt_templates SET name = $2, language = $3, strategy_id = $4, active = $5,"
                    " is_default = $6, tags = $7, notes = $8, version = $9, updated_at = now() WHERE id = $1",
                    template_id,
                    fields.name,
                    fields.language,
                    fields.strategy_id,
                    fields.active,
                    fields.is_default,
                    list(fields.tags),
                    fields.notes,
                    version,
                )
            except asyncpg.UniqueViolationError as error:
                raise PromptNameTakenError(fields.name) from error
            row = await connection.fetchrow(f"{_SELECT} WHERE t.id = $1 AND v.version = $2", template_id, version)
        assert row is not None
        return _from_row(row)

    async def delete(self, template_id: UUID) -> bool:
        """Delete a template and its versions; False when it did not exist.

        Raises :class:`PromptInUseError` while a strategy's ``analysis.prompt_template_id`` names it.
        """
        async with self._pool.acquire() as connection, connection.transaction():
            users = await connection.fetch(
                "SELECT name FROM gateway.strategies"
                " WHERE definition -> 'analysis' ->> 'prompt_template_id' = $1::text ORDER BY name FOR SHARE",
                str(template_id),
            )
            if users:
                raise PromptInUseError(template_id, [row["name"] for row in users])
            result = await connection.execute("DELETE FROM gateway.prompt_templates WHERE id = $1", template_id)
        return bool(result == "DELETE 1")

    async def default_for(
        self, template_type: PromptType, language: PromptLanguage, strategy_id: UUID | None
    ) -> PromptTemplate | None:
        """The active default template of a type and language: the strategy's own first, else the global one."""
        row = await self._pool.fetchrow(
            f"{_SELECT} WHERE v.version = t.version AND t.is_default AND t.active"
            " AND t.type = $1 AND t.language = $2 AND (t.strategy_id IS NULL OR t.strategy_id = $3)"
            " ORDER BY t.strategy_id IS NULL LIMIT 1",
            template_type,
            language,
            strategy_id,
        )
        return _from_row(row) if row else None

    @staticmethod
    async def _clear_default(connection: PoolConnectionProxy[Any], fields: PromptFields, keep: UUID) -> None:
        await connection.execute(
            "UPDATE gateway.prompt_templates SET is_default = false, updated_at = now()"
            " WHERE is_default AND type = $1 AND language = $2 AND strategy_id IS NOT DISTINCT FROM $3 AND id <> $4",
            fields.type,
            fields.language,
            fields.strategy_id,
            keep,
        )
