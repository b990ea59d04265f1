"""What happens to a message when its handler fails: the delivery rules of DESIGN.md in code.

FastStream's default would terminate a message on any exception. This middleware decides
instead, for every subscriber of a service:

- invalid input (a contract that does not validate) or ``PermanentStepError``: terminate,
  publish ``StepFailed``, and keep a copy in the dead-letter stream;
- a transient failure (``is_transient``: ``TransientStepError``, a connection refused or
  reset, a timeout, PostgreSQL or NATS unavailable): nak with a capped exponential delay so
  JetStream redelivers it, until the retry horizon is spent; then give up as above with
  ``retries_exhausted`` (see ``tradelane.runtime.retries``);
- any other exception (a bug): the same backoff, for ``max_deliver`` deliveries in all.

While the handler runs it keeps a JetStream message in progress (``tradelane.runtime.heartbeats``),
and stops doing so before the message is acked, nak'ed or terminated. A handler of a JetStream
delivery that runs past ``handler_timeout_seconds`` is cancelled (``HandlerTimeoutError``): a bug,
by the rules above, so a handler that hangs on every delivery ends as a dead letter.

It also binds ``execution_id``, ``subject`` and ``message_id`` to every log line written
while the message is handled.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from types import TracebackType
from typing import Any
from uuid import UUID, uuid5

import structlog
from faststream import BaseMiddleware
from faststream.context import ContextRepo
from faststream.exceptions import HandlerException, NackMessage, RejectMessage
from faststream.message import StreamMessage
from nats.aio.msg import Msg
from nats.errors import NotJSMessageError
from pydantic import ValidationError

from tradelane.contracts import subjects
from tradelane.contracts.envelope import BacktestTag
from tradelane.contracts.events import FailureKind, StepFailed
from tradelane.runtime.bus import EventBus
from tradelane.runtime.dead_letter_copy import (
    BODY_OMITTED_HEADER,
    DELIVERIES_HEADER,
    ERROR_HEADER,
    ERROR_KIND_HEADER,
    STEP_HEADER,
    STREAM_SEQUENCE_HEADER,
    dead_letter_copy,
)
from tradelane.runtime.errors import HandlerTimeoutError, PermanentStepError, TransientStepError, is_transient
from tradelane.runtime.heartbeats import Heartbeat
from tradelane.runtime.metrics import ServiceStats
from tradelane.runtime.redaction import redact
from tradelane.runtime.settings import Settings

log = structlog.get_logger(__name__)

__all__ = [
    "DELIVERIES_HEADER",
    "ERROR_HEADER",
    "ERROR_KIND_HEADER",
    "STEP_HEADER",
    "STREAM_SEQUENCE_HEADER",
    "DeliveryDecisions",
    "delivery_decisions",
    "describe",
    "failure_id",
]


def _peek_envelope(data: bytes) -> dict[str, Any]:
    """Best-effort read of a message body, for the failure report of bad input.

    Any body must do: not JSON, not UTF-8, or nested deeper than the parser recurses.
    """
    try:
        body = json.loads(data)
    except (ValueError, RecursionError):
        return {}
    return body if isinstance(body, dict) else {}


def _uuid_or_none(value: object) -> UUID | None:
    try:
        return UUID(str(value))
    except ValueError:
        return None


def _backtest_or_none(value: object) -> BacktestTag | None:
    """The backtest tag of a message that may be bad input: its failure belongs to the backtest when it is readable."""
    if value is None:
        return None
    try:
        return BacktestTag.model_validate(value)
    except ValidationError:
        return None


def failure_id(
    *, step: str, subject: str, input_message_id: UUID | None, execution_id: UUID, sequence: int | None
) -> UUID:
    """The ``message_id`` of the ``StepFailed`` that ``step`` publishes about a message of ``subject``.

    Derived from the input's id, so every delivery of one message yields the same failure, which
    JetStream and the lineage keep once. An input without a readable id is told apart by its
    execution and stream sequence instead: one fixed id for all of them would make JetStream drop
    the failure of every such message after the first as a duplicate.
    """
    if input_message_id is not None:
        return uuid5(input_message_id, f"StepFailed/{step}/{subject}")
    return uuid5(execution_id, f"StepFailed/{step}/{subject}/{sequence}")


def describe(error: BaseException) -> str:
    """An error as a user should read it: validation errors name each bad field; secrets masked.

    This text travels far (``StepFailed`` in the lineage, the dead-letter headers, the API),
    so a password or API key an error message quotes is masked here, once.
    """
    if isinstance(error, ValidationError):
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item['loc']) or 'message'}: {item['msg']}" for item in error.errors()[:10]
        )
        return redact(f"invalid {error.title}: {problems}")
    return redact(f"{type(error).__name__}: {error}" if not isinstance(error, PermanentStepError) else str(error))


class DeliveryDecisions(BaseMiddleware):
    """Per-message middleware; build it with :func:`delivery_decisions`."""

    def __init__(
        self,
        msg: Msg,
        /,
        *,
        context: ContextRepo,
        step: str,
        bus: EventBus,
        settings: Settings,
        report_failures: bool,
        stats: ServiceStats,
    ) -> None:
        super().__init__(msg, context=context)
        self._step = step
        self._bus = bus
        self._settings = settings
        self._report_failures = report_failures
        self._stats = stats
        self._raw: Msg = msg
        self._started = 0.0
        self._from_stream = False
        self._heartbeat = Heartbeat(
            msg, settings.heartbeat_seconds, for_at_most_seconds=settings.handler_timeout_seconds
        )

    async def on_receive(self) -> None:
        self._from_stream = self._stream_sequence() is not None
        if self._from_stream:
            self._started = time.perf_counter()
            self._stats.started()
            self._heartbeat.start()
            if not self._raw.data:
                # every publisher sends a JSON body; should an empty message ever come, say exactly
                # what it is (a status message, a stray ack?) before it is rejected as invalid input
                log.warning(
                    "empty_message_received",
                    subject=self._raw.subject,
                    reply=self._raw.reply,
                    headers=dict(self._raw.headers or {}),
                )

    async def consume_scope(
        self, call_next: Callable[[StreamMessage[Any]], Awaitable[Any]], msg: StreamMessage[Any]
    ) -> Any:
        """Run the handler; cancel it past ``handler_timeout_seconds`` (JetStream deliveries only)."""
        await self._bind_log_context(msg)
        if not self._from_stream:
            return await call_next(msg)
        seconds = self._settings.handler_timeout_seconds
        deadline = asyncio.timeout(seconds)
        try:
            async with deadline:
                return await call_next(msg)
        except TimeoutError as error:
            if deadline.expired():
                log.error("handler_cancelled", step=self._step, after_seconds=seconds)
                raise HandlerTimeoutError(seconds) from error
            raise

    async def _bind_log_context(self, msg: StreamMessage[Any]) -> None:
        """Bind the message's subject and ids to every line logged while it is handled.

        The ids come from the body FastStream decodes for the handler, which it keeps: parsing the
        body again here cost about a tenth of a service's CPU per message.
        """
        try:
            body = await msg.decode()
        except ValidationError:  # unreadable: decoding it for the handler fails again, for the delivery rules
            body = None
        fields = body if isinstance(body, dict) else {}
        structlog.contextvars.bind_contextvars(
            subject=self._raw.subject,
            message_id=fields.get("message_id"),
            execution_id=fields.get("execution_id"),
        )

    async def after_processed(
        self,
        exc_type: type[BaseException] | None = None,
        exc_val: BaseException | None = None,
        exc_tb: TracebackType | None = None,
    ) -> bool | None:
        outcome = "ok"
        try:
            if isinstance(exc_val, HandlerException):
                outcome = "handler_decided"
            elif isinstance(exc_val, Exception):
                try:
                    await self._decide(exc_val)
                except NackMessage:
                    outcome = "retried"
                    raise
                except RejectMessage:
                    outcome = "given_up"
                    raise
        finally:
            # before FastStream acks, naks or terminates the message (it does so once this returns)
            await self._heartbeat.stop()
            structlog.contextvars.unbind_contextvars("subject", "message_id", "execution_id")
            if self._from_stream:
                self._stats.finished(self._raw.subject, outcome, time.perf_counter() - self._started)
        return False

    async def _decide(self, error: Exception) -> None:
        deliveries = self._deliveries()
        if self._is_invalid_input(error):
            await self._give_up_or_retry(error, "invalid_input", deliveries)
        if isinstance(error, PermanentStepError):
            await self._give_up_or_retry(error, "permanent", deliveries)
        rules = self._settings.retry_rules
        transient = is_transient(error)
        if (
            rules.horizon_spent(deliveries, self._stored_at(), datetime.now(UTC))
            if transient
            else rules.bug_retries_spent(deliveries)
        ):
            await self._give_up_or_retry(error, "retries_exhausted", deliveries)
        retry_after = error.retry_after if isinstance(error, TransientStepError) else None
        delay = rules.delay(deliveries, retry_after=retry_after)
        log.warning(
            "step_retry_scheduled",
            step=self._step,
            error=describe(error),
            transient=transient,
            deliveries=deliveries,
            retry_in_seconds=round(delay, 3),
            exc_info=not transient,
        )
        raise NackMessage(delay=delay)

    def _is_invalid_input(self, error: Exception) -> bool:
        """The message itself does not parse or validate (a JSON error of the handler's own is a bug, not bad input)."""
        if isinstance(error, ValidationError):
            return True
        if isinstance(error, json.JSONDecodeError):
            try:
                json.loads(self._raw.data)
            except ValueError:
                return True
        return False

    async def _give_up_or_retry(self, error: Exception, kind: FailureKind, deliveries: int) -> None:
        """Give up on the message (always raises); if its failure cannot be recorded now, retry it instead.

        Terminating a message whose dead letter was not stored would lose it: when NATS is
        unreachable the message is nak'ed, and the decision is taken again on its next delivery.
        """
        try:
            await self._give_up(error, kind, deliveries)
        except Exception as unrecorded:
            if not is_transient(unrecorded):
                raise
            delay = self._settings.retry_rules.delay(deliveries)
            log.warning(
                "step_failure_not_recorded", step=self._step, error=describe(unrecorded), retry_in_seconds=delay
            )
            raise NackMessage(delay=delay) from unrecorded
        raise RejectMessage

    def _deliveries(self) -> int:
        try:
            return int(self._raw.metadata.num_delivered or 1)
        except (ValueError, NotJSMessageError):  # a core NATS message (request/reply) has no JetStream metadata
            return 1

    def _stored_at(self) -> datetime | None:
        """When the message was stored in its stream: when it was first published."""
        try:
            return self._raw.metadata.timestamp
        except (ValueError, NotJSMessageError):
            return None

    def _stream_sequence(self) -> int | None:
        try:
            return self._raw.metadata.sequence.stream
        except (ValueError, NotJSMessageError):
            return None

    async def _give_up(self, error: Exception, kind: FailureKind, deliveries: int) -> None:
        reason = describe(error)
        log.error("step_failed", step=self._step, kind=kind, error=reason, deliveries=deliveries)
        if subjects.is_dead_letter(self._raw.subject):
            # a dead letter that cannot be handled is dropped here: copying it to
            # deadletter.deadletter... would loop for ever
            return
        # a failure that cannot be recorded now (NATS unreachable) is retried by _give_up_or_retry, never lost
        if self._report_failures:
            await self._report(reason, kind, deliveries)
        await self._dead_letter(reason, kind, deliveries)

    async def _dead_letter(self, reason: str, kind: FailureKind, deliveries: int) -> None:
        """Copy the message to the dead-letter stream (a reference to it when the copy would not fit)."""
        copy = dead_letter_copy(
            subject=self._raw.subject,
            data=self._raw.data,
            headers=self._raw.headers,
            stream=self._stream_name(),
            sequence=self._stream_sequence(),
            step=self._step,
            kind=kind,
            error=reason,
            deliveries=deliveries,
            max_payload=self._bus.max_payload,
        )
        if copy.body_omitted:
            log.warning("dead_letter_body_omitted", size=len(self._raw.data), reason=copy.headers[BODY_OMITTED_HEADER])
        await self._bus.publish_raw(copy.subject, copy.body, copy.headers, subjects.DEAD_LETTER_STREAM)

    def _stream_name(self) -> str | None:
        try:
            return self._raw.metadata.stream
        except (ValueError, NotJSMessageError):
            return None

    async def _report(self, reason: str, kind: FailureKind, deliveries: int) -> None:
        body = _peek_envelope(self._raw.data)
        execution_id = _uuid_or_none(body.get("execution_id"))
        strategy_id = _uuid_or_none(body.get("strategy_id"))
        message_id = _uuid_or_none(body.get("message_id"))
        if execution_id is None or strategy_id is None:
            log.error("failure_not_attributable", reason="no execution_id/strategy_id in the message")
            return
        failure = StepFailed(
            message_id=failure_id(
                step=self._step,
                subject=self._raw.subject,
                input_message_id=message_id,
                execution_id=execution_id,
                sequence=self._stream_sequence(),
            ),
            execution_id=execution_id,
            strategy_id=strategy_id,
            replay_of=_uuid_or_none(body.get("replay_of")),
            backtest=_backtest_or_none(body.get("backtest")),
            causation_id=message_id,
            step=self._step,
            kind=kind,
            error=reason,
            input_subject=self._raw.subject,
            input_message_id=str(message_id) if message_id else None,
            deliveries=deliveries,
        )
        await self._bus.publish(failure)


def delivery_decisions(
    *, step: str, bus: EventBus, settings: Settings, stats: ServiceStats, report_failures: bool = True
) -> Callable[..., BaseMiddleware]:
    """A FastStream broker middleware that applies the delivery rules for ``step``.

    FastStream builds broker middlewares for publishes too, without a message: those pass
    through untouched (a plain ``BaseMiddleware``).
    """

    def build(msg: Msg | None, /, *, context: ContextRepo) -> BaseMiddleware:
        if msg is None:
            return BaseMiddleware(msg, context=context)
        return DeliveryDecisions(
            msg,
            context=context,
            step=step,
            bus=bus,
            settings=settings,
            report_failures=report_failures,
            stats=stats,
        )

    return build
