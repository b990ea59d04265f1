"""503 answers while NATS or PostgreSQL is unreachable: which one is down, and to retry shortly.

``tradelane up`` restarts a dead server within seconds and the gateway's connections recover
by themselves (nats-py reconnects; asyncpg replaces a pool's dead connection on its next
use), so an outage is answered as the temporary condition it is: 503 with a ``Retry-After``
header and the dependency named, never a 500 or a request left hanging.
"""

from __future__ import annotations

from typing import Final

import asyncpg
import nats.errors
from fastapi import HTTPException, Request, status
from fastapi.responses import JSONResponse
from faststream.nats import NatsBroker

from tradelane.runtime.errors import POSTGRES_UNREACHABLE  # the one list, shared with the bus middleware's retries
from tradelane.runtime.redaction import redact

RETRY_AFTER_SECONDS: Final = 5
RETRY_AFTER: Final = {"Retry-After": str(RETRY_AFTER_SECONDS)}

NATS: Final = "NATS"
POSTGRES: Final = "PostgreSQL"

NATS_UNREACHABLE: Final[tuple[type[Exception], ...]] = (
    nats.errors.ConnectionClosedError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.NoServersError,
    nats.errors.StaleConnectionError,
    nats.errors.OutboundBufferLimitError,
    nats.errors.FlushTimeoutError,
    nats.errors.TimeoutError,
)
"""What nats-py raises while the server is down or restarting (its TimeoutError: no ack came)."""

POSTGRES_FAILED: Final[tuple[type[Exception], ...]] = (
    *POSTGRES_UNREACHABLE,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
)
"""Any failure of a statement: what a middleware that must answer anyway (token check, audit) catches."""


def unavailable_detail(dependency: str, error: BaseException | None = None) -> str:
    """The message of a 503: which dependency, why (when known), and that a retry will do."""
    cause = f" ({redact(f'{type(error).__name__}: {error}'.rstrip(': '))})" if error is not None else ""
    return (
        f"{dependency} is unreachable{cause}; tradelane reconnects (and `tradelane up` restarts it) "
        f"by itself: retry shortly, in {RETRY_AFTER_SECONDS} s"
    )


def bus_unavailable(what_failed: str, error: BaseException) -> HTTPException:
    """The 503 of a route whose publish or read on NATS failed: what failed, then the outage message."""
    return HTTPException(
        status.HTTP_503_SERVICE_UNAVAILABLE,
        f"{what_failed}: {unavailable_detail(NATS, error)}",
        headers=RETRY_AFTER,
    )


def dependency_of(error: BaseException) -> str:
    return NATS if isinstance(error, NATS_UNREACHABLE) else POSTGRES


async def dependency_unavailable_handler(request: Request, error: Exception) -> JSONResponse:
    """The answer to a route that met a NATS or PostgreSQL outage: 503, the dependency, Retry-After."""
    dependency = dependency_of(error)
    return JSONResponse(
        {"detail": unavailable_detail(dependency, error), "unavailable": dependency},
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        headers=RETRY_AFTER,
    )


def require_nats(broker: NatsBroker) -> None:
    """503 at once when the NATS connection is down, before anything is published.

    nats-py holds what is published while it reconnects and sends it once it is back; a run
    request published then, and answered 503 when its ack does not come in time, could still
    run later. Refusing it up front keeps a 503 meaning "not accepted".
    """
    if not broker.connection.is_connected:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, unavailable_detail(NATS), headers=RETRY_AFTER)
