"""One fault case from start to verdict: burst, fault, wait, count, record the row, assert.

The row is recorded before anything is asserted, and a count that cannot be taken (PostgreSQL
or the gateway still down when the case ends) is shown as unknown and fails the case: the
table always has a line for every case that ran, whatever it found.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable
from datetime import datetime
from uuid import UUID

import httpx

from tests.faults.burst import FINAL_STATUSES, RUNS, Burst, Fault, burst_with_fault, settle
from tests.faults.checks import dead_lettered, duplicated
from tests.faults.report import FaultRow, FaultTable
from tests.faults.system import UpSystem
from tests.support.waiting import eventually

QUIET_SECONDS = 90.0
"""How long, after the last execution ended, every consumer has to catch up before duplicates are counted: a
message may wait out the longest retry delay (``TRADELANE_RETRY_BACKOFF_MAX_SECONDS``, 60 s) after its fault."""


async def _counted(check: Awaitable[set[UUID]], problems: list[str], what: str) -> set[UUID] | None:
    """The executions ``check`` finds, or None (and why, in ``problems``) when it cannot look."""
    try:
        return await check
    except Exception as error:  # any failure to look is shown in the row and fails the case
        problems.append(f"could not count {what}: {type(error).__name__}: {error}")
        return None


async def _quiet(system: UpSystem, problems: list[str]) -> None:
    """Wait until no durable consumer has a message to be delivered or one delivered and not yet acknowledged.

    Then the broker events and lineage rows still on their way when the last execution ended
    have landed, and a duplicate among them is counted. A consumer still busy after
    :data:`QUIET_SECONDS` is a problem of the case (named in ``problems``).
    """
    busy: list[str] | str = []

    async def nothing_in_flight() -> bool:
        nonlocal busy
        try:
            response = await client.get("/api/system/streams")
        except httpx.HTTPError as error:
            busy = f"{type(error).__name__}: {error}"
            return False
        if response.status_code != httpx.codes.OK:
            busy = f"{response.status_code} {response.text[:200]}"
            return False
        busy = [
            f"{stream['stream']}/{consumer['consumer']} {consumer['pending']} pending {consumer['ack_pending']} unacked"
            for stream in response.json()
            for consumer in stream["consumers"]
            if consumer["pending"] or consumer["ack_pending"]
        ]
        return not busy

    async with system.client() as client:
        try:
            await eventually(nothing_in_flight, "every consumer to have handled its messages", timeout=QUIET_SECONDS)
        except AssertionError:
            problems.append(f"the bus was not quiet {QUIET_SECONDS:.0f} s after the last execution ended: {busy}")


async def fault_case(
    system: UpSystem, table: FaultTable, name: str, strategy_id: UUID, fault: Fault
) -> tuple[FaultRow, Burst]:
    """Run the case, add its row to the table, and assert the system healed and lost, doubled and dead-lettered nothing.

    Every fault of the suite is transient (the system is meant to heal from it), so any dead
    letter fails the case.
    """
    started = time.monotonic()
    burst = await burst_with_fault(system, strategy_id, fault)
    ids = burst.execution_ids
    found = await settle(system, ids)
    final = {execution_id for execution_id, (status, _) in found.items() if status in FINAL_STATUSES}
    failed = {execution_id for execution_id, (status, _) in found.items() if status == "failed"}
    problems: list[str] = []
    if len(final) == len(ids):  # else the case fails for the executions lost, and counts at once
        await _quiet(system, problems)
    doubled = await _counted(duplicated(system, ids), problems, "duplicates")
    dead = await _counted(dead_lettered(system, ids), problems, "dead letters")
    row = FaultRow(
        fault=name,
        executions=len(ids),
        final=len(final),
        failed=len(failed),
        lost=len(ids) - len(final),
        duplicated=None if doubled is None else len(doubled),
        dead_lettered=None if dead is None else len(dead),
        refused=burst.refused,
        unserved=burst.unserved,
        recovery_seconds=_recovery_seconds(burst, found),
        case_seconds=time.monotonic() - started,
    )
    table.add(row)
    assert not problems, f"{name}: " + "; ".join(problems)
    assert burst.unserved == 0, (
        f"{name}: {burst.unserved} of {RUNS} runs never accepted: the system did not serve again"
    )
    assert not burst.errors, f"{name}: run requests answered with errors other than 503: {burst.errors[:5]}"
    not_final = {str(execution_id): found.get(execution_id, ("unknown", None))[0] for execution_id in set(ids) - final}
    assert row.lost == 0, f"{name}: {row.lost} of {row.executions} executions not final: {not_final}"
    assert row.failed == 0, f"{name}: {row.failed} executions failed: {sorted(map(str, failed))}"
    assert not doubled, f"{name}: duplicated steps, signals or orders in {sorted(map(str, doubled or ()))}"
    assert not dead, f"{name}: dead letters for {sorted(map(str, dead or ()))}"
    return row, burst


def _recovery_seconds(burst: Burst, found: dict[UUID, tuple[str, datetime | None]]) -> float | None:
    """Seconds from the fault to the end of the first execution accepted after it (None: none ended)."""
    ends = [
        finished
        for execution_id in burst.accepted_after_fault
        if (finished := found.get(execution_id, ("", None))[1]) is not None
    ]
    if not ends:
        return None
    return max(0.0, (min(ends) - burst.injected_at).total_seconds())
