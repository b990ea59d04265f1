"""Whether the gateway can serve: Postgres answers and the NATS connection is up."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
from nats.aio.client import Client as NatsClient

from tradelane.runtime.redaction import redact

POSTGRES_TIMEOUT_SECONDS = 2.0


async def postgres_problem(pool: asyncpg.Pool[Any]) -> str | None:
    """Why Postgres cannot serve the gateway, or None when it answers ``SELECT 1``."""
    try:
        async with asyncio.timeout(POSTGRES_TIMEOUT_SECONDS):
            await pool.fetchval("SELECT 1")
    except TimeoutError:
        return f"no answer to SELECT 1 within {POSTGRES_TIMEOUT_SECONDS:g} s"
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        return redact(f"{type(error).__name__}: {error}")
    return None


def nats_problem(client: NatsClient) -> str | None:
    """Why NATS cannot serve the gateway, or None when the connection is up."""
    if client.is_connected:
        return None
    if client.is_reconnecting:
        return "reconnecting to NATS"
    return "not connected to NATS"
