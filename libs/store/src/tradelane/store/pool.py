"""The asyncpg pool: JSON codecs registered once, so jsonb columns read and write Python values."""

from __future__ import annotations

import json
from typing import Any

import asyncpg
from pydantic import SecretStr


async def _init_connection(connection: asyncpg.Connection[Any]) -> None:
    for type_name in ("json", "jsonb"):
        await connection.set_type_codec(type_name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def create_pool(dsn: SecretStr | str, *, min_size: int = 1, max_size: int = 5) -> asyncpg.Pool[Any]:
    """Open a pool to ``dsn`` whose connections encode and decode JSON.

    A ``SecretStr`` DSN (the settings' ``database_url``) is read here, where the connection is
    made, and nowhere else.
    """
    target = dsn.get_secret_value() if isinstance(dsn, SecretStr) else dsn
    pool = await asyncpg.create_pool(target, min_size=min_size, max_size=max_size, init=_init_connection)
    assert pool is not None
    return pool
