"""The asyncpg pool: JSON codecs registered once, so jsonb columns read and write Python values."""

from __future__ import annotations

import json
from typing import Any, Final

import asyncpg
from pydantic import SecretStr

STATEMENT_TIMEOUT_SECONDS: Final = 30.0
"""How long PostgreSQL lets one statement run before it cancels it (server side, ``statement_timeout``)."""


async def _init_connection(connection: asyncpg.Connection[Any]) -> None:
    for type_name in ("json", "jsonb"):
        await connection.set_type_codec(type_name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def create_pool(
    dsn: SecretStr | str,
    *,
    min_size: int = 1,
    max_size: int = 5,
    statement_timeout_seconds: float = STATEMENT_TIMEOUT_SECONDS,
) -> asyncpg.Pool[Any]:
    """Open a pool to ``dsn`` whose connections encode and decode JSON.

    Every statement is cancelled by the server after ``statement_timeout_seconds`` (0 disables the
    limit), so one slow query cannot hold a connection, and the request waiting on it, for good.
    A ``SecretStr`` DSN (the settings' ``database_url``) is read here, where the connection is made.
    """
    if statement_timeout_seconds < 0:
        msg = f"statement_timeout_seconds must be 0 (no limit) or more, got {statement_timeout_seconds}"
        raise ValueError(msg)
    target = dsn.get_secret_value() if isinstance(dsn, SecretStr) else dsn
    pool = await asyncpg.create_pool(
        target,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        server_settings={"statement_timeout": str(round(statement_timeout_seconds * 1000))},
    )
    assert pool is not None
    return pool
