"""The pool's connections: a server-side statement timeout on every one."""

from __future__ import annotations

import asyncpg
import pytest

from tradelane.store.pool import create_pool


async def test_statements_are_limited_to_30_seconds_by_default(database_url: str) -> None:
    pool = await create_pool(database_url)
    try:
        assert await pool.fetchval("SHOW statement_timeout") == "30s"
    finally:
        await pool.close()


async def test_a_statement_that_runs_past_the_timeout_is_cancelled_by_the_server(database_url: str) -> None:
    pool = await create_pool(database_url, statement_timeout_seconds=0.2)
    try:
        with pytest.raises(asyncpg.QueryCanceledError, match="statement timeout"):
            await pool.execute("SELECT pg_sleep(5)")
        assert await pool.fetchval("SELECT 1") == 1
    finally:
        await pool.close()


async def test_a_negative_timeout_is_refused(database_url: str) -> None:
    with pytest.raises(ValueError, match="statement_timeout_seconds"):
        await create_pool(database_url, statement_timeout_seconds=-1)
