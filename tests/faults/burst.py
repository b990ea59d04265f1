"""A burst of runs with a fault injected in the middle, and the wait until every accepted run has ended.

A run request is *accepted* when the gateway answers 202 with an execution id. A 503 (the bus or
a dependency is down) or no answer at all (the gateway is down, or timed out) is not an
acceptance: the same run is requested again half a second later until it is accepted, and
``refused`` counts the requests the outage turned away. Another 5xx is retried the same way
but kept in ``errors`` (a dependency outage should be a 503 that says so). A run still not
accepted after ``ACCEPT_DEADLINE_SECONDS`` means the system does not serve again: the burst
stops there and counts it, and every run it did not request, as ``unserved``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg
import httpx

from tests.faults.system import UpSystem

RUNS = 50
"""Executions per case (the issue asks for at least 50)."""
BEFORE_FAULT = 25
"""Runs accepted before the fault is injected; the rest are requested while it lasts."""
SPACING_SECONDS = 0.1
"""Pause between two run requests after the fault, so the burst spans it instead of ending before it.

Before the fault the runs are requested back to back, faster than the pipeline runs them, so
every service holds messages in flight when the fault strikes."""
RETRY_SECONDS = 0.5
ACCEPT_DEADLINE_SECONDS = 90.0
"""How long the burst keeps asking for one run before it counts the system as not serving again."""
SETTLE_SECONDS = 75.0
"""How long, after the burst and the fault are over, every accepted execution has to reach a final state."""
_NOT_READABLE_YET = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError, KeyError, ValueError)
"""PostgreSQL down or hanging, or ``endpoints.json`` not (yet) written while ``tradelane up`` restarts."""
FINAL_STATUSES = frozenset({"completed", "rejected", "failed"})

Fault = Callable[[], Coroutine[Any, Any, None]]


@dataclass
class Burst:
    """What a burst did: the executions accepted (and when), the requests refused, when the fault began."""

    injected_at: datetime
    accepted: dict[UUID, datetime] = field(default_factory=dict)
    refused: int = 0
    unserved: int = 0
    errors: list[str] = field(default_factory=list)
    """Answers other than 202 and 503 to run requests."""

    @property
    def execution_ids(self) -> list[UUID]:
        return list(self.accepted)

    @property
    def accepted_after_fault(self) -> list[UUID]:
        return [execution_id for execution_id, at in self.accepted.items() if at >= self.injected_at]


async def _request_run(client: httpx.AsyncClient, strategy_id: UUID, burst: Burst) -> bool:
    """Ask for one run until it is accepted; False when it was not within the deadline."""
    deadline = asyncio.get_running_loop().time() + ACCEPT_DEADLINE_SECONDS
    while True:
        try:
            response = await client.post(f"/api/strategies/{strategy_id}/run")
        except httpx.TransportError:
            response = None
        if response is not None and response.status_code == 202:
            burst.accepted[UUID(response.json()["execution_id"])] = datetime.now(UTC)
            return True
        if response is not None and response.status_code < 500:
            raise AssertionError(f"run request answered {response.status_code}: {response.text[:500]}")
        if response is not None and response.status_code != 503:
            burst.errors.append(f"{response.status_code} {response.text[:200]}")
        burst.refused += 1
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(RETRY_SECONDS)


async def burst_with_fault(system: UpSystem, strategy_id: UUID, fault: Fault) -> Burst:
    """``RUNS`` accepted runs of the strategy, ``fault`` started after ``BEFORE_FAULT`` of them.

    The fault runs beside the rest of the burst (a 30 s outage or a restart lasts a while);
    this returns once every run is accepted and the fault is over.
    """
    burst = Burst(injected_at=datetime.now(UTC))
    async with system.client(timeout=10) as client:
        for _ in range(BEFORE_FAULT):
            assert await _request_run(client, strategy_id, burst), "the system did not accept runs before the fault"
        burst.injected_at = datetime.now(UTC)
        injecting = asyncio.create_task(fault())
        try:
            for requested in range(RUNS - BEFORE_FAULT):
                if not await _request_run(client, strategy_id, burst):
                    burst.unserved = RUNS - BEFORE_FAULT - requested
                    break
                await asyncio.sleep(SPACING_SECONDS)
        finally:
            await injecting
    return burst


async def statuses(system: UpSystem, execution_ids: list[UUID]) -> dict[UUID, tuple[str, datetime | None]]:
    """Each known execution's status and end, as the lineage has them."""
    async with system.database() as connection:
        rows = await connection.fetch(
            "SELECT execution_id, status, finished_at FROM lineage.executions WHERE execution_id = ANY($1::uuid[])",
            execution_ids,
        )
    return {row["execution_id"]: (row["status"], row["finished_at"]) for row in rows}


async def settle(system: UpSystem, execution_ids: list[UUID]) -> dict[UUID, tuple[str, datetime | None]]:
    """The executions' statuses once all are final, or as they are after ``SETTLE_SECONDS``.

    PostgreSQL may still be coming back at first: a refused or hanging connection is a look that
    found nothing, and the next look is half a second later.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SETTLE_SECONDS
    found: dict[UUID, tuple[str, datetime | None]] = {}
    while True:
        with contextlib.suppress(*_NOT_READABLE_YET):
            found = await asyncio.wait_for(statuses(system, execution_ids), 15)
        if sum(status in FINAL_STATUSES for status, _ in found.values()) == len(execution_ids):
            return found
        if loop.time() > deadline:
            return found
        await asyncio.sleep(0.5)
