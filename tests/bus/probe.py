"""What the fuzz tests watch on the bus: who consumes a subject, what each consumer decided, what was recorded.

Everything is read from outside the services, as an operator would: JetStream's consumer state and
its advisories (a ``MSG_TERMINATED`` advisory for each terminated message, with its deliveries), the
``pipeline.step.failed`` events, the dead-letter stream, and the lineage tables.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import asyncpg
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from tradelane.contracts import subjects
from tradelane.contracts.events import StepFailed
from tradelane.lineage.advisories import failing_step
from tradelane.runtime.bus_flush import flush_queued
from tradelane.runtime.dead_letter_copy import STEP_HEADER, STREAM_SEQUENCE_HEADER
from tradelane.runtime.streams import BROKER_CONSUMER, LINEAGE_CONSUMERS, STEP_CONSUMERS, ConsumerSpec

SETTLE_SECONDS = 30.0


@dataclass(frozen=True)
class Consumer:
    """A durable consumer of a subject and the step name its service reports failures under."""

    stream: str
    durable: str
    step: str
    owner: bool
    """True for the service whose input the subject is (a pipeline step, the broker); False for the lineage."""


def _matches(pattern: str, subject: str) -> bool:
    return subject.startswith(pattern[:-1]) if pattern.endswith(">") else subject == pattern


def consumers_of(subject: str) -> list[Consumer]:
    """Every durable consumer tradelane has on ``subject``."""
    owners: list[ConsumerSpec] = [*STEP_CONSUMERS.values(), BROKER_CONSUMER]
    found = [Consumer(spec.stream, spec.durable, failing_step(spec.durable), True) for spec in owners]
    found += [Consumer(spec.stream, spec.durable, failing_step(spec.durable), False) for spec in LINEAGE_CONSUMERS]
    everyone = [*owners, *LINEAGE_CONSUMERS]
    return [
        consumer
        for consumer, spec in zip(found, everyone, strict=True)
        if any(_matches(pattern, subject) for pattern in spec.filter_subjects)
    ]


@dataclass(frozen=True)
class Termination:
    consumer: str
    deliveries: int


@dataclass
class BusProbe:
    """Collects advisories, failed steps and dead letters as they are published (core subscriptions)."""

    client: NatsClient
    pool: asyncpg.Pool[Any]
    terminated: dict[tuple[str, int], list[Termination]] = field(default_factory=dict)
    exhausted: list[dict[str, Any]] = field(default_factory=list)
    failures: list[StepFailed] = field(default_factory=list)
    dead_letters: dict[tuple[str, int, str], Msg] = field(default_factory=dict)
    outputs: dict[str, list[tuple[str, dict[str, Any]]]] = field(default_factory=dict)
    """Messages on the pipeline and trading subjects by their ``causation_id``: (subject, body)."""

    async def start(self) -> None:
        await self.client.subscribe("$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.>", cb=self._on_terminated)
        await self.client.subscribe("$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.>", cb=self._on_exhausted)
        await self.client.subscribe(subjects.DEAD_LETTER_ALL, cb=self._on_dead_letter)
        await self.client.subscribe(subjects.PIPELINE_ALL, cb=self._on_event)
        await self.client.subscribe(subjects.TRADING_ALL, cb=self._on_event)
        await flush_queued(self.client)

    async def _on_terminated(self, msg: Msg) -> None:
        advisory = json.loads(msg.data)
        key = (advisory["stream"], int(advisory["stream_seq"]))
        self.terminated.setdefault(key, []).append(Termination(advisory["consumer"], int(advisory["deliveries"])))

    async def _on_exhausted(self, msg: Msg) -> None:
        self.exhausted.append(json.loads(msg.data))

    async def _on_dead_letter(self, msg: Msg) -> None:
        headers = msg.headers or {}
        sequence = headers.get(STREAM_SEQUENCE_HEADER, "")
        if sequence.isdigit():
            original = msg.subject.removeprefix(subjects.dead_letter(""))
            self.dead_letters[(original, int(sequence), headers.get(STEP_HEADER, ""))] = msg

    async def _on_event(self, msg: Msg) -> None:
        try:
            body = json.loads(msg.data)
        except (ValueError, RecursionError):
            return
        if not isinstance(body, dict):
            return
        if msg.subject == subjects.STEP_FAILED:
            try:
                self.failures.append(StepFailed.model_validate(body))
            except ValueError:
                return
        cause = body.get("causation_id")
        if isinstance(cause, str):
            self.outputs.setdefault(cause, []).append((msg.subject, body))

    async def settled(self, subject: str, stream: str, sequence: int, timeout: float = SETTLE_SECONDS) -> None:
        """Wait until every consumer of ``subject`` has decided on the message at ``sequence`` (acked or terminated)."""
        deadline = asyncio.get_running_loop().time() + timeout
        js = self.client.jetstream()
        waiting = [c for c in consumers_of(subject) if c.stream == stream]
        while waiting:
            info = await js.consumer_info(waiting[0].stream, waiting[0].durable)
            delivered = info.delivered.stream_seq if info.delivered is not None else 0
            if (delivered or 0) >= sequence and not info.num_ack_pending and not info.num_pending:
                waiting.pop(0)
                continue
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(
                    f"consumer {waiting[0].durable} did not settle message {sequence} of {subject} within "
                    f"{timeout} s: {info.num_pending} pending, {info.num_ack_pending} unacknowledged, "
                    f"{info.num_redelivered} redelivered"
                )
            await asyncio.sleep(0.01)


async def lineage_steps(pool: asyncpg.Pool[Any], execution_id: UUID) -> list[Mapping[str, Any]]:
    """The lineage's step rows of an execution (step, status, error, message_id, subject)."""
    rows = await pool.fetch(
        "SELECT step, status, error, message_id, subject FROM lineage.steps WHERE execution_id = $1", execution_id
    )
    return [dict(row) for row in rows]


async def deliveries_match_messages(client: NatsClient) -> list[str]:
    """Consumers that delivered some message more than once: their delivery count exceeds the messages they match.

    A consumer's ``delivered.consumer_seq`` counts every delivery, redeliveries included; with every
    message settled, it equals the number of stream messages its filter matches only when none was
    delivered twice. A consumer of a whole stream counts every message ever stored (its last sequence),
    since a redrive deletes its dead letter after the lineage read it.
    """
    js = client.jetstream()
    problems: list[str] = []
    for spec in [*STEP_CONSUMERS.values(), BROKER_CONSUMER, *LINEAGE_CONSUMERS]:
        info = await js.consumer_info(spec.stream, spec.durable)
        if any(pattern.endswith(">") for pattern in spec.filter_subjects):
            matching = (await js.stream_info(spec.stream)).state.last_seq
        else:
            matching = 0
            for pattern in spec.filter_subjects:
                stream = await js.stream_info(spec.stream, subjects_filter=pattern)
                matching += sum((stream.state.subjects or {}).values())
        delivered = info.delivered.consumer_seq if info.delivered is not None else 0
        if (delivered or 0) > matching:
            problems.append(f"{spec.durable}: {delivered} deliveries of {matching} messages")
    return problems
