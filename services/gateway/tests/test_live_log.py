"""The live log's filters, its log lines and its queue between NATS and a slow browser (pure, no server)."""

from __future__ import annotations

import asyncio
import json
from uuid import uuid4

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from tradelane.contracts import subjects
from tradelane.contracts.events import StepFailed
from tradelane.gateway.ui.livelog import Level, Listener, LogFilter, Source, line, read_log_line


def _msg(subject: str, data: bytes = b"{}") -> Msg:
    return Msg(NatsClient(), subject=subject, data=data)


async def test_a_full_queue_drops_and_counts_instead_of_waiting() -> None:
    listener = Listener(LogFilter(), asyncio.Queue(maxsize=2))
    for _ in range(5):
        await asyncio.wait_for(listener.receive(_msg(subjects.EXECUTION_REQUESTED)), timeout=0.1)
    assert (listener.queue.qsize(), listener.dropped) == (2, 3)


def test_the_error_level_lets_through_failed_steps_and_dead_letters_only() -> None:
    problems = LogFilter(level=Level.ERROR)
    assert problems.passes_subject(subjects.STEP_FAILED)
    assert problems.passes_subject(subjects.dead_letter(subjects.EXECUTION_REQUESTED))
    assert not problems.passes_subject(subjects.EXECUTION_REQUESTED)
    assert LogFilter(level=Level.INFO).passes_subject(subjects.EXECUTION_REQUESTED)


def test_a_service_keeps_its_log_lines_and_the_events_it_publishes() -> None:
    signals = LogFilter(service="signals")
    assert signals.passes_subject(subjects.logs_of("signals"))
    assert not signals.passes_subject(subjects.logs_of("broker"))
    assert signals.passes_subject(subjects.SIGNAL_GENERATED)
    assert not signals.passes_subject(subjects.ORDER_FILLED)


def test_the_source_keeps_log_lines_or_events() -> None:
    assert not LogFilter(source=Source.EVENTS).passes_subject(subjects.logs_of("broker"))
    assert not LogFilter(source=Source.LOGS).passes_subject(subjects.ORDER_FILLED)
    assert LogFilter(source=Source.LOGS).passes_subject(subjects.logs_of("broker"))


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


def _log_line(**fields: object) -> bytes:
    return json.dumps(
        {"event": "order_refused", "level": "warning", "logger": "tradelane.broker.placement", **fields}
    ).encode()


def test_a_log_line_shows_its_service_level_event_execution_and_fields() -> None:
    execution_id = uuid4()
    data = _log_line(
        rule="max_position_notional",
        execution_id=str(execution_id),
        timestamp="2026-12-05T21:16:26.207001Z",
        exception="Traceback (most recent call last):\n  File ...\nValueError: too big",
    )
    shown = line(_msg(subjects.logs_of("broker"), data), LogFilter())
    assert shown is not None
    assert "broker" in shown and "warning" in shown and "order_refused" in shown
    assert f'href="/executions/{execution_id}"' in shown
    assert "max_position_notional" in shown and "ValueError: too big" in shown and "File ..." not in shown
    assert "21:16:26.207" in shown


def test_a_log_line_is_left_out_by_execution_level_and_subject_prefix() -> None:
    execution_id = uuid4()
    message = _msg(
        subjects.logs_of("broker"), _log_line(execution_id=str(execution_id), subject=subjects.SIGNAL_GENERATED)
    )
    assert line(message, LogFilter(execution_id=uuid4())) is None
    assert line(message, LogFilter(execution_id=execution_id)) is not None
    assert line(message, LogFilter(level=Level.ERROR)) is None
    assert line(message, LogFilter(subject_prefix="pipeline.signal")) is not None  # the message it was handling
    assert line(message, LogFilter(subject_prefix="logs.broker")) is not None
    assert line(message, LogFilter(subject_prefix="trading.")) is None


def test_a_line_that_is_not_json_is_shown_as_its_text() -> None:
    read = read_log_line("charts", b"Chromium said something")
    assert (read.event, read.level, read.execution_id) == ("Chromium said something", Level.INFO, None)
