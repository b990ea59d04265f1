"""The risk controls: the trading state (the kill switch) and the risk limits.

These are the only writes to the book made outside the broker service. The gateway makes
them straight in Postgres, not by asking the broker over the bus, so that a halt takes effect
even while the broker is down: the broker reads the state and limits inside every order's
transaction. Every change is kept in ``broker.risk_events``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

import asyncpg

from tradelane.contracts.book import RiskRecord, TradingStateChange
from tradelane.contracts.trading import TradingLimits, TradingState
from tradelane.store.book import rows
from tradelane.store.book.rows import Connection

_INITIAL_STATE: Final = TradingState.ACTIVE
_INITIAL_REASON: Final = "initial state"
_INITIAL_CHANGED_BY: Final = "system"


def initial_risk() -> RiskRecord:
    """The risk controls before anyone changed them: ACTIVE with the default limits."""
    return RiskRecord(
        state=_INITIAL_STATE,
        reason=_INITIAL_REASON,
        changed_by=_INITIAL_CHANGED_BY,
        changed_at=datetime.now(UTC),
        limits=TradingLimits(),
    )


async def ensure_risk(db: asyncpg.Pool[Any] | Connection) -> None:
    """Create the one ``broker.risk`` row with :func:`initial_risk` when there is none yet."""
    await db.execute(
        "INSERT INTO broker.risk (id, state, reason, changed_by, limits) VALUES (true, $1, $2, $3, $4)"
        " ON CONFLICT (id) DO NOTHING",
        _INITIAL_STATE.value,
        _INITIAL_REASON,
        _INITIAL_CHANGED_BY,
        TradingLimits().model_dump(mode="json"),
    )


async def change_trading_state(
    connection: Connection, state: TradingState, reason: str, changed_by: str
) -> TradingStateChange:
    """Switch the trading state inside the caller's transaction (the broker halting by itself).

    The row is locked while read, so the state before the change is the one this change replaced.
    """
    await ensure_risk(connection)
    previous = await connection.fetchval("SELECT state FROM broker.risk FOR UPDATE")
    row = await connection.fetchrow(
        "UPDATE broker.risk SET state = $1, reason = $2, changed_by = $3, changed_at = now() RETURNING *",
        state.value,
        reason,
        changed_by,
    )
    change = await connection.fetchval(
        "INSERT INTO broker.risk_events (kind, state, reason, changed_by) VALUES ('state', $1, $2, $3) RETURNING id",
        state.value,
        reason,
        changed_by,
    )
    assert row is not None
    return TradingStateChange(risk=rows.risk(row), previous_state=TradingState(previous), change=int(change))


async def set_trading_state(
    pool: asyncpg.Pool[Any], state: TradingState, reason: str, changed_by: str
) -> TradingStateChange:
    """Switch the trading state (the kill switch: HALTED), keeping the change in the history."""
    async with pool.acquire() as connection, connection.transaction():
        return await change_trading_state(connection, state, reason, changed_by)


async def set_limits(pool: asyncpg.Pool[Any], limits: TradingLimits, changed_by: str) -> RiskRecord:
    """Replace the risk limits, keeping the change in the history; orders already working stay."""
    document = limits.model_dump(mode="json")
    async with pool.acquire() as connection, connection.transaction():
        await ensure_risk(connection)
        row = await connection.fetchrow("UPDATE broker.risk SET limits = $1 RETURNING *", document)
        await connection.execute(
            "INSERT INTO broker.risk_events (kind, reason, changed_by, limits) VALUES ('limits', $1, $2, $3)",
            "limits replaced",
            changed_by,
            document,
        )
    assert row is not None
    return rows.risk(row)
