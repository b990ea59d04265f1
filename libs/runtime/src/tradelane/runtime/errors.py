"""The kinds of failure a step can meet, and which of them a retry can fix.

The bus middleware (``tradelane.runtime.decisions``) turns each into a delivery decision:
permanent errors dead-letter at once, transient ones are retried for the retry horizon, and
anything else is a bug that gets a bounded number of deliveries.
"""

from __future__ import annotations

import asyncpg
import nats.errors
import nats.js.errors


class PermanentStepError(Exception):
    """The input can never succeed (unknown symbol, too few bars): reject it, record why.

    The message is terminated, a ``StepFailed`` is published and a copy goes to the
    dead-letter stream. It is never retried.
    """


class TransientStepError(Exception):
    """A dependency is briefly unavailable (IB disconnected, LLM 429, Postgres down): retry.

    The message is nak'ed with a growing delay and redelivered until the retry horizon is spent.
    """

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class HandlerTimeoutError(Exception):
    """A handler ran past ``handler_timeout_seconds`` and was cancelled.

    Neither permanent nor transient: every dependency has a timeout of its own well below the
    limit, so a handler this slow hangs (a deadlock, a call without a timeout). It is retried
    with backoff like a bug and dead-lettered after ``max_deliver`` deliveries; not a
    ``TimeoutError``, which would count as a dependency timing out and be retried for the horizon.
    """

    def __init__(self, seconds: float) -> None:
        super().__init__(f"the handler ran longer than {seconds:g} s (handler_timeout_seconds) and was cancelled")
        self.seconds = seconds


class MessageTooLargeError(PermanentStepError):
    """The event a step produced is larger than the NATS server accepts (its ``max_payload``)."""


POSTGRES_UNREACHABLE: tuple[type[Exception], ...] = (
    OSError,  # refused, reset, or the Unix socket gone: asyncpg's connect passes these on as they are
    asyncpg.PostgresConnectionError,  # the connection lost, or never made
    asyncpg.CannotConnectNowError,  # starting up, recovering after a crash
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.TooManyConnectionsError,  # up, but out of connection slots until another client leaves
    # a pooled connection whose server died mid-statement can be left in a state it cannot leave
    # ("cannot switch to state ...; another operation is in progress"); the pool replaces it on release
    asyncpg.exceptions.InternalClientError,
)
"""What asyncpg raises while PostgreSQL is down, restarting, recovering or full.

The one list: the bus middleware retries these (``is_transient``) and the gateway answers
them with a 503 naming PostgreSQL.
"""

_TRANSIENT_TYPES: tuple[type[BaseException], ...] = (
    TransientStepError,
    # the network: refused, reset, broken pipe, unreachable, and every timeout
    # (asyncio.TimeoutError and nats.errors.TimeoutError are both TimeoutError, an OSError)
    OSError,
    *POSTGRES_UNREACHABLE,
    # PostgreSQL up, but this statement lost to a timeout, a cancel, a deadlock or a serialization conflict
    asyncpg.QueryCanceledError,
    asyncpg.TransactionRollbackError,
    # NATS reconnecting, or JetStream without a leader (restart, cluster election)
    nats.errors.ConnectionClosedError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.ConnectionDrainingError,
    nats.errors.NoRespondersError,
    nats.errors.NoServersError,
    nats.errors.StaleConnectionError,
    nats.errors.FlushTimeoutError,
    nats.errors.OutboundBufferLimitError,
    nats.js.errors.ServiceUnavailableError,
    nats.js.errors.ServerError,
    nats.js.errors.NoStreamResponseError,
)
_CLOSED_CONNECTION_HINTS = ("connection is closed", "connection was closed", "pool is closing", "pool is closed")


def is_transient(error: BaseException) -> bool:
    """Whether a retry later can succeed: ``error`` says a dependency is unreachable, not that the input is bad.

    A permanent error wins over everything (a ``PermanentStepError`` raised from a timeout
    stays permanent). asyncpg's ``InterfaceError`` is transient only when it says the
    connection is gone (a pool whose server restarted); otherwise it is a programming error.
    An exception group is transient when every exception in it is.
    """
    if isinstance(error, PermanentStepError):
        return False
    if isinstance(error, _TRANSIENT_TYPES):
        return True
    if isinstance(error, asyncpg.InterfaceError):
        text = str(error).lower()
        return any(hint in text for hint in _CLOSED_CONNECTION_HINTS)
    if isinstance(error, BaseExceptionGroup):
        return all(is_transient(inner) for inner in error.exceptions)
    return False
