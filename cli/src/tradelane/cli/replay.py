"""``tradelane replay``: an execution from one of its steps, or a window of a subject.

Both read the exact original messages from JetStream and republish each as the start of a new
execution that replays the original (``replay_of``); see ``tradelane.contracts.replay``.
"""

from __future__ import annotations

from contextlib import aclosing
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID, uuid4

from nats.aio.client import Client as NatsClient

from tradelane.cli.context import CliError, Connections, Console
from tradelane.cli.format import timestamp
from tradelane.cli.progress import Progress
from tradelane.contracts.envelope import utc_now
from tradelane.contracts.replay import NotReplayableError, ReplayOverrides, check_overrides
from tradelane.contracts.subjects import Step
from tradelane.runtime.replay import (
    ReplayError,
    WindowMessage,
    as_replay,
    publish,
    read_window,
    replay_recorded,
    stream_of,
)
from tradelane.runtime.summaries import short_id
from tradelane.store.replay import ReplayQueries, StepNotReachedError, UnknownExecutionError, message_to_replay


async def replay_execution(
    connections: Connections,
    console: Console,
    execution_id: UUID,
    from_step: Step,
    overrides: ReplayOverrides,
) -> int:
    """Republish the message ``from_step`` consumed in ``execution_id``; prints the new execution's id."""
    try:
        check_overrides(from_step, overrides)
        messages = await ReplayQueries(await connections.pool()).messages(execution_id)
        source = message_to_replay(execution_id, messages, from_step)
        assert source.stream_sequence is not None
        replayed = await replay_recorded(
            await connections.nats(),
            subject=source.subject,
            sequence=source.stream_sequence,
            message_id=source.message_id,
            overrides=overrides,
        )
    except (UnknownExecutionError, StepNotReachedError, NotReplayableError, ReplayError) as error:
        raise CliError(str(error)) from error
    changes = ", ".join(f"{name}={value}" for name, value in overrides.changes.items()) or "none"
    console.note(
        f"replaying execution {execution_id} from step {from_step.value}: republished {source.subject} "
        f"#{source.stream_sequence} as {replayed.stream}:{replayed.sequence}; overrides: {changes}"
    )
    console.note(f"follow it with: tradelane executions show {replayed.execution_id}")
    console.print(str(replayed.execution_id))
    return 0


@dataclass(frozen=True)
class WindowOptions:
    subject: str
    since: datetime | None
    start_sequence: int | None
    until: datetime | None
    strategy_id: UUID | None
    to_subject: str | None
    dry_run: bool


async def replay_window(connections: Connections, console: Console, options: WindowOptions) -> int:
    """Republish every message of a subject stored in the window, as replays; or list them with ``dry_run``."""
    client = await connections.nats()
    js = client.jetstream()
    progress = Progress(console.err, verb="would republish" if options.dry_run else "republished")
    try:
        source_stream = await stream_of(js, options.subject)
        window = read_window(
            js, options.subject, since=options.since, start_sequence=options.start_sequence, until=options.until
        )
        async with aclosing(window):
            async for item in window:
                done = await _replay_one(client, console, item, options)
                progress.advance(done=done, remaining=item.remaining)
    except ReplayError as error:
        raise CliError(str(error)) from error
    progress.finish()
    start = options.since.isoformat() if options.since else f"sequence {options.start_sequence}"
    end = options.until.isoformat() if options.until else "now"
    console.note(
        f"{source_stream} {options.subject} from {start} to {end}: "
        f"{progress.read} read, {progress.done} {progress.verb}, {progress.skipped} skipped"
    )
    return 0


async def _replay_one(client: NatsClient, console: Console, item: WindowMessage, options: WindowOptions) -> bool:
    message = item.message
    body = message.json() or {}
    if options.strategy_id is not None and body.get("strategy_id") != str(options.strategy_id):
        return False
    try:
        payload, headers = as_replay(message, execution_id=uuid4(), replayed_at=utc_now())
    except NotReplayableError as error:
        console.note(f"skipped {message.stream}:{message.sequence}: {error}")
        return False
    target = options.to_subject or message.subject
    if options.dry_run:
        console.print(
            f"{message.stream}:{message.sequence}  {timestamp(message.stored_at)}  {message.subject} -> {target}  "
            f"execution {short_id(body.get('execution_id'))} strategy {short_id(body.get('strategy_id'))}"
        )
        return True
    await publish(client, target, payload, headers)
    return True
