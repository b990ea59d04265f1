"""The live log's filter and its queue between NATS and a slow browser (pure, no server)."""

from __future__ import annotations

import asyncio
from uuid import uuid4

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from tradelane.contracts import subjects
from tradelane.contracts.events import StepFailed
from tradelane.gateway.ui.livelog import Level, Listener, LogFilter, line


def _msg(subject: str, data: bytes = b"{}") -> Msg:
    return Msg(NatsClient(), subject=subject, data=data)


async def test_a_full_queue_drops_and_counts_instead_of_waiting() -> None:
    listener = Listener(LogFilter(), asyncio.Queue(maxsize=2))
    for _ in range(5):
        await asyncio.wait_for(listener.receive(_msg(subjects.EXECUTION_REQUESTED)), timeout=0.1)
    assert (listener.queue.qsize(), listener.dropped) == (2, 3)


def test_the_problems_level_lets_through_failed_steps_and_dead_letters_only() -> None:
    problems = LogFilter(level=Level.PROBLEMS)
    assert problems.passes_subject(subjects.STEP_FAILED)
    assert problems.passes_subject(subjects.dead_letter(subjects.EXECUTION_REQUESTED))
    assert not problems.passes_subject(subjects.EXECUTION_REQUESTED)


def test_a_subject_prefix_keeps_only_the_subjects_that_start_with_it() -> None:
    signals = LogFilter(subject_prefix="pipeline.signal")
    assert signals.passes_subject(subjects.SIGNAL_GENERATED)
    assert not signals.passes_subject(subjects.ORDER_FILLED)


def test_a_message_of_another_execution_is_left_out_by_the_execution_filter() -> None:
    failed = StepFailed(
        execution_id=uuid4(),
        strategy_id=uuid4(),
        step="indicators",
        kind="permanent",
        error="no bars",
        input_subject=subjects.MARKET_DATA_FETCHED,
        deliveries=1,
    )
    message = _msg(subjects.STEP_FAILED, failed.model_dump_json().encode())
    assert line(message, LogFilter(execution_id=uuid4())) is None
    shown = line(message, LogFilter(execution_id=failed.execution_id))
    assert shown is not None
    assert "indicators failed" in shown
