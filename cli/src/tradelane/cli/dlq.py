"""``tradelane dlq list|show|redrive``: the messages steps gave up on, and sending them again."""

from __future__ import annotations

import json
from typing import Any

from tradelane.cli.context import CliError, Connections, Console
from tradelane.cli.format import table, timestamp
from tradelane.runtime.deadletters import (
    DeadLetter,
    DeadLetterNotFoundError,
    count_dead_letters,
    get_dead_letter,
    list_dead_letters,
    redrive,
)
from tradelane.runtime.summaries import clip, short_id


def as_json(dead_letter: DeadLetter) -> dict[str, Any]:
    """A dead letter as JSON: its fields, and the original body (as JSON when it is JSON)."""
    return {
        "id": dead_letter.id,
        "subject": dead_letter.subject,
        "step": dead_letter.step,
        "kind": dead_letter.kind,
        "error": dead_letter.error,
        "deliveries": dead_letter.deliveries,
        "original_sequence": dead_letter.original_sequence,
        "dead_lettered_at": dead_letter.dead_lettered_at.isoformat(),
        "execution_id": dead_letter.execution_id,
        "message_id": dead_letter.message_id,
        "headers": dict(dead_letter.headers),
        "body": dead_letter.body if dead_letter.body is not None else dead_letter.data.decode(errors="replace"),
    }


async def dlq_list(connections: Connections, console: Console, *, limit: int, json_output: bool) -> int:
    js = (await connections.nats()).jetstream()
    found = await list_dead_letters(js, limit=limit)
    if json_output:
        for dead_letter in found:
            console.json(as_json(dead_letter))
        return 0
    total = await count_dead_letters(js)
    if not found:
        console.print("no dead letters")
        return 0
    rows = [
        [
            d.id,
            timestamp(d.dead_lettered_at),
            d.step,
            d.kind,
            d.deliveries,
            d.subject,
            short_id(d.execution_id),
            clip(d.error, 70),
        ]
        for d in found
    ]
    console.print(table(["ID", "DEAD-LETTERED", "STEP", "KIND", "DELIVERIES", "SUBJECT", "EXECUTION", "ERROR"], rows))
    if total > len(found):
        console.note(f"{total - len(found)} more not shown (--limit)")
    return 0


async def dlq_show(connections: Connections, console: Console, dead_letter_id: int, *, json_output: bool) -> int:
    js = (await connections.nats()).jetstream()
    try:
        dead_letter = await get_dead_letter(js, dead_letter_id)
    except DeadLetterNotFoundError as error:
        raise CliError(str(error)) from error
    if json_output:
        console.json(as_json(dead_letter))
        return 0
    details = as_json(dead_letter)
    for key in ("id", "subject", "step", "kind", "deliveries", "original_sequence", "dead_lettered_at"):
        console.print(f"{key + ':':<19} {details[key] if details[key] is not None else '-'}")
    console.print(f"{'execution_id:':<19} {details['execution_id'] or '-'}")
    console.print(f"{'error:':<19} {dead_letter.error or '-'}")
    console.print("body:")
    body = details["body"]
    console.print(json.dumps(body, indent=2) if isinstance(body, dict) else str(body))
    return 0


async def dlq_redrive(
    connections: Connections, console: Console, dead_letter_id: int | None, *, every: bool, place_orders: bool = False
) -> int:
    """Redrive one dead letter, or every one; exit 1 if any could not be redriven.

    A redriven signal places orders only with ``place_orders`` (one dead letter at a time).
    """
    client = await connections.nats()
    js = client.jetstream()
    ids = [dead_letter.id for dead_letter in await list_dead_letters(js)] if every else [dead_letter_id]
    failures = 0
    for one in ids:
        assert one is not None
        try:
            redriven = await redrive(js, one, max_payload=client.max_payload, place_orders=place_orders)
        except DeadLetterNotFoundError as error:
            if not every:
                raise CliError(str(error)) from error
            console.note(str(error))
            failures += 1
            continue
        except LookupError as error:
            console.note(f"dead letter {one} not redriven: {error}")
            failures += 1
            continue
        console.print(
            f"redrove {redriven.dead_letter_id} to {redriven.subject} ({redriven.stream}:{redriven.sequence})"
        )
    if every:
        console.note(f"{len(ids) - failures} redriven, {failures} not")
    return 1 if failures else 0
