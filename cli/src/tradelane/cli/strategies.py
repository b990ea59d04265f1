"""``tradelane strategies list|create|run``."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

from pydantic import ValidationError

from tradelane.cli.context import CliError, Connections, Console
from tradelane.cli.format import table
from tradelane.contracts import subjects
from tradelane.contracts.envelope import utc_now
from tradelane.contracts.events import ExecutionRequested, Trigger
from tradelane.contracts.strategy import StrategyDefinition
from tradelane.contracts.strategy_warnings import strategy_warnings
from tradelane.runtime.bus import event_headers
from tradelane.runtime.decisions import describe
from tradelane.store.lineage import LineageRepository
from tradelane.store.strategies import StoredStrategy, StrategyNameTakenError, StrategyRepository

WAIT_POLL_SECONDS = 0.25


async def strategies_list(connections: Connections, console: Console, *, json_output: bool) -> int:
    found = await StrategyRepository(await connections.pool()).list()
    if json_output:
        for stored in found:
            console.json({"id": str(stored.id), "version": stored.version, **stored.definition.model_dump(mode="json")})
        return 0
    if not found:
        console.print("no strategies; create one with `tradelane strategies create`")
        return 0
    rows = [
        [
            s.id,
            s.definition.name,
            f"{s.definition.symbol.symbol}@{s.definition.symbol.exchange}",
            s.definition.bar_size.value,
            f"{s.definition.schedule.cron} {s.definition.schedule.timezone}",
            s.definition.active,
            s.version,
        ]
        for s in found
    ]
    console.print(table(["ID", "NAME", "SYMBOL", "BAR SIZE", "SCHEDULE", "ACTIVE", "VERSION"], rows))
    return 0


def definition_from(file: Path | None, fields: dict[str, Any]) -> StrategyDefinition:
    """A strategy from a JSON file, with any flags given overriding its top-level fields and symbol fields."""
    base: dict[str, Any] = {}
    if file is not None:
        try:
            loaded = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise CliError(f"cannot read a strategy from {file}: {error}") from error
        if not isinstance(loaded, dict):
            raise CliError(f"{file} must hold one JSON object (a strategy definition)")
        base = loaded
    symbol = {**base.get("symbol", {}), **fields.pop("symbol", {})}
    schedule = {**base.get("schedule", {}), **fields.pop("schedule", {})}
    merged = {**base, **fields}
    if symbol:
        merged["symbol"] = symbol
    if schedule:
        merged["schedule"] = schedule
    try:
        return StrategyDefinition.model_validate(merged)
    except ValidationError as error:
        raise CliError(describe(error)) from error


async def strategies_create(connections: Connections, console: Console, definition: StrategyDefinition) -> int:
    """Store the strategy; its risky values (the same warnings ``POST /api/strategies/check`` gives) go to stderr."""
    try:
        stored = await StrategyRepository(await connections.pool()).create(definition)
    except StrategyNameTakenError as error:
        raise CliError(str(error)) from error
    for warning in strategy_warnings(stored.definition):
        console.note(f"warning: {warning.field}: {warning.message}")
    console.note(f"created strategy {stored.definition.name!r}; run it now with `tradelane strategies run {stored.id}`")
    console.print(str(stored.id))
    return 0


async def find_strategy(repository: StrategyRepository, id_or_name: str) -> StoredStrategy:
    """A strategy by id, or else by name."""
    stored = None
    try:
        stored = await repository.get(UUID(id_or_name))
    except ValueError:
        stored = await repository.get_by_name(id_or_name)
    if stored is None:
        raise CliError(f"no strategy with id or name {id_or_name!r}; list them with `tradelane strategies list`")
    return stored


async def strategies_run(
    connections: Connections, console: Console, id_or_name: str, *, wait_seconds: float | None
) -> int:
    """Request a run now; with ``wait_seconds``, follow it to its end (exit 1 unless it completed or was rejected)."""
    pool = await connections.pool()
    stored = await find_strategy(StrategyRepository(pool), id_or_name)
    request = ExecutionRequested(
        execution_id=uuid4(),
        strategy_id=stored.id,
        strategy=stored.definition,
        trigger=Trigger.MANUAL,
        as_of=utc_now(),
    )
    js = (await connections.nats()).jetstream()
    await js.publish(
        subjects.EXECUTION_REQUESTED,
        request.model_dump_json().encode(),
        headers=event_headers(request),
        stream=subjects.PIPELINE_STREAM,
    )
    console.print(str(request.execution_id))
    if wait_seconds is None:
        console.note(f"follow it with: tradelane executions show {request.execution_id}")
        return 0
    lineage = LineageRepository(pool)
    try:
        async with asyncio.timeout(wait_seconds):
            while True:
                detail = await lineage.execution(request.execution_id)
                if detail is not None and detail.execution.status != "running":
                    break
                await asyncio.sleep(WAIT_POLL_SECONDS)
    except TimeoutError as error:
        raise CliError(f"execution {request.execution_id} still running after {wait_seconds:g} s", 1) from error
    summary = detail.execution
    console.note(f"execution {summary.execution_id} {summary.status}" + (f": {summary.error}" if summary.error else ""))
    return 0 if summary.status in ("completed", "rejected") else 1
