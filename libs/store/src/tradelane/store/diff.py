"""Step-by-step differences between two executions, typically one and its replay (pure: no I/O).

Steps are matched by name. For each, the message it consumed (its input) and the message it
published (its output) are compared field by field. Fields that differ on every run by
construction are ignored, so a faithful replay shows no change at all:

- the envelope's identity and timing: ``message_id``, ``execution_id``, ``causation_id``,
  ``replay_of``, ``occurred_at``, ``handled_in_ms``, and ``input_message_id`` of a failure;
- ``trigger`` of the execution request (``manual`` or ``schedule`` versus ``replay``);
- a signal's ``expires_at`` (signal time plus the strategy's time to live);
- how each LLM call's answer was obtained, not what it was: ``llm_calls[*].cached``,
  ``latency_ms``, ``tokens_in``, ``tokens_out``, ``cost`` and ``response_format`` (a replay with
  the cache on gets the same answer from the cache, free and at once).

Two executions are compared only while the lineage keeps their messages in full: a pruned
message (see :mod:`tradelane.store.lineage_retention`) raises :class:`DetailPrunedError`.

A step's input is compared only when both executions recorded it: the first message of a
replay was caused by nothing in the replay, so it has none. Everything else counts, including
the strategy each message carries, so a replay with another prompt version shows exactly that
field changing, and whatever the new prompt changed.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from uuid import UUID

from tradelane.contracts.subjects import Step
from tradelane.store.lineage import StepStatus
from tradelane.store.lineage_retention import DetailPrunedError
from tradelane.store.replay import RecordedMessage

IGNORED_FIELDS: frozenset[str] = frozenset(
    {
        "message_id",
        "execution_id",
        "causation_id",
        "replay_of",
        "replay_places_orders",
        "occurred_at",
        "handled_in_ms",
        "input_message_id",
        "trigger",
    }
)
"""Top-level fields of a message that are never compared."""
_HOW_ANSWERED = ("cached", "latency_ms", "tokens_in", "tokens_out", "cost", "response_format")
IGNORED_PATHS: frozenset[tuple[str, ...]] = frozenset(
    {("signal", "expires_at"), ("candidate", "expires_at")} | {("llm_calls", "*", name) for name in _HOW_ANSWERED}
)
"""Nested fields that are never compared; ``*`` stands for any position in a list."""
MAX_CHANGES_PER_MESSAGE = 50

Presence = Literal["both", "only_first", "only_second"]
ChangeKind = Literal["changed", "added", "removed"]


@dataclass(frozen=True)
class FieldChange:
    """One field that differs: ``before`` in the first execution, ``after`` in the second."""

    path: str
    kind: ChangeKind
    before: Any = None
    after: Any = None


@dataclass(frozen=True)
class MessageDiff:
    """The differences of one message, at most :data:`MAX_CHANGES_PER_MESSAGE` of them listed."""

    changes: list[FieldChange] = field(default_factory=list)
    omitted: int = 0
    """Further differences not listed."""

    @property
    def changed(self) -> bool:
        return bool(self.changes) or self.omitted > 0


@dataclass(frozen=True)
class StepDiff:
    """One step compared across the two executions."""

    step: str
    presence: Presence
    status_before: StepStatus | None
    status_after: StepStatus | None
    input: MessageDiff
    output: MessageDiff

    @property
    def changed(self) -> bool:
        return self.presence == "both" and (
            self.status_before != self.status_after or self.input.changed or self.output.changed
        )


@dataclass(frozen=True)
class ExecutionDiff:
    """Every step of two executions, compared."""

    first: UUID
    second: UUID
    steps: list[StepDiff]

    @property
    def identical(self) -> bool:
        """True when no step that both executions ran differs (steps only one ran do not count)."""
        return not any(step.changed for step in self.steps)


def diff_messages(before: Any, after: Any) -> MessageDiff:
    """The differences between two message bodies, ignoring the fields listed in this module."""
    changes = list(_walk(before, after, ()))
    return MessageDiff(changes[:MAX_CHANGES_PER_MESSAGE], max(0, len(changes) - MAX_CHANGES_PER_MESSAGE))


def diff_executions(
    first: UUID, first_messages: Sequence[RecordedMessage], second: UUID, second_messages: Sequence[RecordedMessage]
) -> ExecutionDiff:
    """Compare two executions step by step, in pipeline order (other records, such as failures, after).

    Raises :class:`DetailPrunedError` when a message of either was pruned: a summary is no message to compare.
    """
    for execution_id, messages in ((first, first_messages), (second, second_messages)):
        for message in messages:
            if message.pruned_at is not None:
                raise DetailPrunedError(execution_id, f"{message.step} message", message.pruned_at)
    before, after = _by_step(first_messages), _by_step(second_messages)
    order = [step.value for step in Step] + sorted((set(before) | set(after)) - {step.value for step in Step})
    steps = []
    for name in order:
        old, new = before.get(name), after.get(name)
        if old is None and new is None:
            continue
        if old is None or new is None:
            present = old or new
            assert present is not None
            steps.append(
                StepDiff(
                    step=name,
                    presence="only_first" if new is None else "only_second",
                    status_before=old.status if old else None,
                    status_after=new.status if new else None,
                    input=MessageDiff(),
                    output=MessageDiff(),
                )
            )
            continue
        steps.append(
            StepDiff(
                step=name,
                presence="both",
                status_before=old.status,
                status_after=new.status,
                input=_diff_inputs(_input_of(old, first_messages), _input_of(new, second_messages)),
                output=diff_messages(old.payload, new.payload),
            )
        )
    return ExecutionDiff(first, second, steps)


def _diff_inputs(before: dict[str, Any] | None, after: dict[str, Any] | None) -> MessageDiff:
    if before is None or after is None:
        return MessageDiff()
    return diff_messages(before, after)


def _by_step(messages: Sequence[RecordedMessage]) -> dict[str, RecordedMessage]:
    """One record per step name: its latest success (or rejection) if any, else its latest record."""
    chosen: dict[str, RecordedMessage] = {}
    for message in messages:
        current = chosen.get(message.step)
        if current is None or message.status != "failed" or current.status == "failed":
            chosen[message.step] = message
    return chosen


def _input_of(message: RecordedMessage, messages: Sequence[RecordedMessage]) -> dict[str, Any] | None:
    if message.causation_id is None:
        return None
    causes = [m for m in messages if m.message_id == message.causation_id]
    outputs = [m for m in causes if m.is_step_output]
    chosen = outputs or causes
    return chosen[-1].payload if chosen else None


def _walk(before: Any, after: Any, path: tuple[str | int, ...]) -> Iterator[FieldChange]:
    if isinstance(before, dict) and isinstance(after, dict):
        for key in sorted(set(before) | set(after)):
            child = (*path, key)
            if _ignored(child):
                continue
            if key not in after:
                yield FieldChange(_spell(child), "removed", before=before[key])
            elif key not in before:
                yield FieldChange(_spell(child), "added", after=after[key])
            else:
                yield from _walk(before[key], after[key], child)
        return
    if isinstance(before, list) and isinstance(after, list):
        for index in range(max(len(before), len(after))):
            child = (*path, index)
            if index >= len(after):
                yield FieldChange(_spell(child), "removed", before=before[index])
            elif index >= len(before):
                yield FieldChange(_spell(child), "added", after=after[index])
            else:
                yield from _walk(before[index], after[index], child)
        return
    if before == after and (type(before) is type(after) or _same_number(before, after)):
        return
    yield FieldChange(_spell(path), "changed", before=before, after=after)


def _same_number(before: Any, after: Any) -> bool:
    numbers = (int, float)
    return (
        isinstance(before, numbers)
        and isinstance(after, numbers)
        and not isinstance(before, bool)
        and not isinstance(after, bool)
        and before == after
    )


def _ignored(path: tuple[str | int, ...]) -> bool:
    if len(path) == 1 and path[0] in IGNORED_FIELDS:
        return True
    spelled = tuple("*" if isinstance(part, int) else part for part in path)
    return spelled in IGNORED_PATHS


def _spell(path: tuple[str | int, ...]) -> str:
    spelled = ""
    for part in path:
        spelled += f"[{part}]" if isinstance(part, int) else (f".{part}" if spelled else part)
    return spelled or "(message)"
