"""``tradelane executions list|show|diff``: what ran, step by step, and how a replay differs."""

from __future__ import annotations

import dataclasses
from typing import Any
from uuid import UUID

from tradelane.cli.context import CliError, Connections, Console
from tradelane.cli.format import duration, table
from tradelane.runtime.summaries import clip, short_id
from tradelane.store.diff import ExecutionDiff, FieldChange, StepDiff, diff_executions
from tradelane.store.lineage import ExecutionStatus, LineageRepository
from tradelane.store.lineage_retention import DetailPrunedError
from tradelane.store.replay import ReplayQueries, UnknownExecutionError
from tradelane.store.strategies import StrategyRepository


async def executions_list(
    connections: Connections,
    console: Console,
    *,
    strategy_id: UUID | None,
    status: ExecutionStatus | None,
    limit: int,
    json_output: bool,
) -> int:
    pool = await connections.pool()
    found = await LineageRepository(pool).executions(strategy_id=strategy_id, status=status, limit=limit)
    if json_output:
        for summary in found:
            console.json(dataclasses.asdict(summary))
        return 0
    if not found:
        console.print("no executions")
        return 0
    names = {stored.id: stored.definition.name for stored in await StrategyRepository(pool).list()}
    rows = [
        [
            e.execution_id,
            names.get(e.strategy_id, short_id(e.strategy_id)),
            e.status,
            e.trigger,
            e.started_at,
            duration((e.finished_at - e.started_at).total_seconds()) if e.finished_at else None,
            short_id(e.replay_of) if e.replay_of else None,
            clip(e.error, 60) if e.error else None,
        ]
        for e in found
    ]
    headers = ["EXECUTION", "STRATEGY", "STATUS", "TRIGGER", "STARTED", "TOOK", "REPLAY OF", "ERROR"]
    console.print(table(headers, rows))
    return 0


async def executions_show(connections: Connections, console: Console, execution_id: UUID, *, json_output: bool) -> int:
    detail = await LineageRepository(await connections.pool()).execution(execution_id)
    if detail is None:
        raise CliError(str(UnknownExecutionError(execution_id)))
    if json_output:
        console.json(dataclasses.asdict(detail))
        return 0
    e = detail.execution
    console.print(f"execution  {e.execution_id}")
    console.print(f"strategy   {e.strategy_id}")
    console.print(f"status     {e.status}" + (f": {e.error}" if e.error else ""))
    console.print(f"trigger    {e.trigger or '-'}" + (f", replay of {e.replay_of}" if e.replay_of else ""))
    console.print(f"started    {e.started_at.isoformat()}")
    console.print(f"finished   {e.finished_at.isoformat() if e.finished_at else '-'}")
    console.print()
    rows = [
        [
            step.step,
            step.status,
            duration(step.duration_ms / 1000) if step.duration_ms is not None else None,
            step.stream_sequence,
            step.subject,
            clip(step.error, 70) if step.error else None,
        ]
        for step in detail.steps
    ]
    console.print(table(["STEP", "STATUS", "TOOK", "SEQUENCE", "SUBJECT", "ERROR"], rows))
    return 0


async def executions_diff(
    connections: Connections, console: Console, first: UUID, second: UUID, *, json_output: bool
) -> int:
    """Step by step, what differs between two executions; exit 1 when anything does (like ``diff``)."""
    queries = ReplayQueries(await connections.pool())
    try:
        compared = diff_executions(first, await queries.messages(first), second, await queries.messages(second))
    except (UnknownExecutionError, DetailPrunedError) as error:
        raise CliError(str(error)) from error
    if json_output:
        console.json(diff_as_json(compared))
    else:
        for line in diff_lines(compared):
            console.print(line)
    return 0 if compared.identical else 1


def diff_as_json(compared: ExecutionDiff) -> dict[str, Any]:
    return {
        "first": str(compared.first),
        "second": str(compared.second),
        "identical": compared.identical,
        "steps": [{**dataclasses.asdict(step), "changed": step.changed} for step in compared.steps],
    }


def diff_lines(compared: ExecutionDiff) -> list[str]:
    """The diff as text: '=' same, '~' changed, '<' only in the first, '>' only in the second."""
    lines = [f"< {compared.first}", f"> {compared.second}"]
    for step in compared.steps:
        lines.extend(_step_lines(step))
    lines.append("identical" if compared.identical else "different")
    return lines


def _step_lines(step: StepDiff) -> list[str]:
    if step.presence == "only_first":
        return [f"< {step.step} ({step.status_before}) only in the first"]
    if step.presence == "only_second":
        return [f"> {step.step} ({step.status_after}) only in the second"]
    if not step.changed:
        return [f"= {step.step} ({step.status_after})"]
    lines = [f"~ {step.step} ({step.status_before} -> {step.status_after})"]
    for side, diff in (("input", step.input), ("output", step.output)):
        lines.extend(f"    {side}.{_change(change)}" for change in diff.changes)
        if diff.omitted:
            lines.append(f"    {side}: {diff.omitted} more differences")
    return lines


def _change(change: FieldChange) -> str:
    if change.kind == "added":
        return f"{change.path}: added {clip(repr(change.after), 80)}"
    if change.kind == "removed":
        return f"{change.path}: removed {clip(repr(change.before), 80)}"
    return f"{change.path}: {clip(repr(change.before), 60)} -> {clip(repr(change.after), 60)}"
