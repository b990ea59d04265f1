"""Plain SQL migrations, applied in file-name order at start-up, each exactly once.

Several processes may start at once (every service migrates); an advisory lock makes the
first one apply the migrations and the others wait, then find nothing left to do.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

import asyncpg
import structlog

log = structlog.get_logger(__name__)

_LOCK_KEY = 7_311_001


def migration_files() -> list[tuple[str, str]]:
    """(name, SQL) of every migration shipped with this package, in order."""
    folder = resources.files("tradelane.store") / "migrations"
    names = sorted(entry.name for entry in folder.iterdir() if entry.name.endswith(".sql"))
    return [(name, (folder / name).read_text(encoding="utf-8")) for name in names]


async def migrate(pool: asyncpg.Pool[Any]) -> list[str]:
    """Apply the migrations not applied yet; returns the names applied now."""
    applied_now: list[str] = []
    async with pool.acquire() as connection:
        await connection.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
        try:
            await connection.execute(
                "CREATE TABLE IF NOT EXISTS public.tradelane_migrations ("
                " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {row["name"] for row in await connection.fetch("SELECT name FROM public.tradelane_migrations")}
            for name, sql in migration_files():
                if name in done:
                    continue
                async with connection.transaction():
                    await connection.execute(sql)
                    await connection.execute("INSERT INTO public.tradelane_migrations (name) VALUES ($1)", name)
                applied_now.append(name)
                log.info("migration_applied", migration=name)
        finally:
            await connection.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    return applied_now
