"""The two kinds of failure a step can report; the bus middleware turns each into a decision."""

from __future__ import annotations


class PermanentStepError(Exception):
    """The input can never succeed (unknown symbol, too few bars): reject it, record why.

    The message is terminated, a ``StepFailed`` is published and a copy goes to the
    dead-letter stream. It is never retried.
    """


class TransientStepError(Exception):
    """A dependency is briefly unavailable (IB disconnected, LLM 429, Postgres down): retry.

    The message is nak'ed with a delay and redelivered, until its deliveries run out.
    """

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class MessageTooLargeError(PermanentStepError):
    """The event a step produced is larger than the NATS server accepts (its ``max_payload``)."""
