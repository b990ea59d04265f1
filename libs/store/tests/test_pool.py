"""The pool's connections: a server-side statement timeout on every one, and no reset query when one is released."""

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


async def test_a_released_connection_is_taken_back_without_a_reset_query(database_url: str) -> None:
    """The server's last statement on the connection is still ours once it is back in the pool."""
    pool = await create_pool(database_url, min_size=1, max_size=1)
    observer = await asyncpg.connect(database_url)
    try:
        async with pool.acquire() as connection:
            backend = await connection.fetchval("SELECT pg_backend_pid()")
            await connection.execute("SELECT 'the last statement'")
        assert await pool.fetchval("SELECT pg_backend_pid()") == backend  # the same connection, reused
        last = await observer.fetchval("SELECT query FROM pg_stat_activity WHERE pid = $1", backend)
        assert last == "SELECT pg_backend_pid()"
    finally:
        await observer.close()
        await pool.close()


async def test_a_transaction_left_open_is_rolled_back_when_its_connection_is_released(database_url: str) -> None:
    pool = await create_pool(database_url, min_size=1, max_size=1)
    try:
        async with pool.acquire() as connection:
            await connection.execute("BEGIN; CREATE TABLE left_open (id int)")
        assert await pool.fetchval("SELECT to_regclass('left_open') IS NULL")
    finally:
        await pool.close()
