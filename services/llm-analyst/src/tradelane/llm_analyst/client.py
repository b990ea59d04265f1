"""One chat completion against an OpenAI-compatible server, with the reliability rules around it.

- **Vision request**: a system message, then a user message of the rendered prompt and each
  chart as a base64 ``data:image/png`` ``image_url`` part (a text-only prompt is sent as a string).
- **Structured output**: asked for with ``response_format`` ``json_schema`` (strict); a server
  that answers 400 to it is asked again in JSON mode (``json_object``), and then with no
  response format at all (the prompt still asks for JSON). The first format a model accepts is
  remembered for that model, so later calls skip the ones it refused.
- **Retries**: 429, 408, 409, 5xx, timeouts and connection errors are retried with exponential
  backoff (or after the server's ``Retry-After`` / ``retry-after-ms``), up to ``max_attempts``
  requests and only while the delivery's :class:`RetryBudget` lasts; then
  :class:`LlmUnavailableError` carries the server's delay so the message is nak'ed with it.
  Other 4xx answers are :class:`LlmRequestError`: retrying would not help.
- **Concurrency cap**: at most ``max_concurrency`` requests are in flight per process; waiting
  between retries does not hold a slot.

The openai client's own retries are off (``max_retries=0``): these rules replace them.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Literal

import openai
import structlog
from openai import Omit, omit
from openai.types.chat import (
    ChatCompletionAssistantMessageParam,
    ChatCompletionContentPartImageParam,
    ChatCompletionContentPartTextParam,
    ChatCompletionMessageParam,
    ChatCompletionSystemMessageParam,
    ChatCompletionUserMessageParam,
    completion_create_params,
)

from tradelane.prompts.answer import ANSWER_SCHEMA_NAME, answer_json_schema
from tradelane.runtime.redaction import redact
from tradelane.runtime.retrying import Backoff, Sleep, retry

log = structlog.get_logger(__name__)

ResponseFormat = Literal["json_schema", "json_object", "text"]
RESPONSE_FORMATS: tuple[ResponseFormat, ...] = ("json_schema", "json_object", "text")
RETRYABLE_STATUS = frozenset({408, 409, 429})
"""Besides every 5xx: request timeout, conflict (a lock on the server's side) and rate limiting."""
PERMANENT_STATUS_HINTS: Mapping[int, str] = {
    401: "check TRADELANE_LLM_API_KEY",
    403: "check that the API key may use this model",
    404: "check the model name (TRADELANE_LLM_MODEL or the strategy's analysis.model) and TRADELANE_LLM_BASE_URL",
}
BACKOFF = Backoff(initial=0.5, cap=30.0, jitter_below=0.2, jitter_above=0.2)
"""Without a ``Retry-After``: about 0.5 s, 1 s, 2 s... capped at 30 s, each within 20 % either way."""
MAX_ERROR_CHARS = 500


@dataclass(frozen=True)
class ChatRequest:
    """What to ask: the prompts, the chart PNGs, and the sampling parameters."""

    model: str
    system: str
    prompt: str
    images: tuple[bytes, ...] = ()
    temperature: float = 0.2
    max_tokens: int = 2000
    follow_up: tuple[tuple[str, str], ...] = ()
    """(assistant reply, user message) turns after the prompt: how a repair is asked for."""


@dataclass(frozen=True)
class ChatReply:
    """What came back, with what it cost."""

    text: str | None
    tokens_in: int
    tokens_out: int
    latency_ms: float
    response_format: ResponseFormat
    attempts: int
    finish_reason: str | None = None
    refusal: str | None = None


class RetryBudget:
    """How long one delivery may spend waiting between retries, shared by all its calls."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._deadline = clock() + seconds

    def remaining(self) -> float:
        return max(0.0, self._deadline - self._clock())


class LlmUnavailableError(Exception):
    """The server is overloaded or unreachable; try the message again later (``retry_after`` seconds)."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class LlmRequestError(Exception):
    """The server refused the request for a reason retrying will not fix (bad key, unknown model...)."""


class LlmClient:
    """Chat completions with the rules of this module, on a shared ``AsyncOpenAI`` client."""

    def __init__(
        self,
        client: openai.AsyncOpenAI,
        *,
        max_concurrency: int,
        max_attempts: int,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._client = client
        self._slots = asyncio.Semaphore(max_concurrency)
        self._max_attempts = max_attempts
        self._sleep = sleep
        self._accepted_format: dict[str, ResponseFormat] = {}

    async def close(self) -> None:
        await self._client.close()

    async def complete(self, request: ChatRequest, budget: RetryBudget) -> ChatReply:
        """Ask once (retrying transient failures); raises :class:`LlmUnavailableError` or :class:`LlmRequestError`."""
        accepted = self._accepted_format.get(request.model, "json_schema")
        formats = list(RESPONSE_FORMATS[RESPONSE_FORMATS.index(accepted) :])
        requests = 0

        async def attempt(number: int) -> ChatReply:
            """One try of the retry loop: a request in each format the server may accept, until one is not refused."""
            nonlocal requests
            while True:
                response_format = formats[0]
                requests += 1
                started = time.perf_counter()
                try:
                    completion = await self._create(request, response_format)
                except openai.BadRequestError as error:
                    if len(formats) == 1:
                        raise LlmRequestError(_refusal_message(error)) from error
                    log.warning(
                        "llm_response_format_refused",
                        model=request.model,
                        response_format=response_format,
                        error=_error_text(error),
                    )
                    formats.pop(0)
                    continue
                except (openai.APIConnectionError, openai.APIStatusError) as error:
                    raise _unavailable(error, failures=number) from error
                latency_ms = (time.perf_counter() - started) * 1000
                self._accepted_format[request.model] = response_format
                return _reply(completion, latency_ms, response_format, requests)

        def give_up(failures: int, delay: float) -> bool:
            return failures >= self._max_attempts or delay > budget.remaining()

        def log_retry(failures: int, error: BaseException, delay: float) -> None:
            log.warning(
                "llm_retry_scheduled",
                model=request.model,
                attempt=failures,
                retry_in_seconds=round(delay, 3),
                error=_error_text(_server_error(error)),
            )

        return await retry(
            attempt,
            wait=_retry_delay,
            retry_on=LlmUnavailableError,
            give_up=give_up,
            on_retry=log_retry,
            sleep=self._sleep,
        )

    async def _create(self, request: ChatRequest, response_format: ResponseFormat) -> openai.types.chat.ChatCompletion:
        """One request, holding a concurrency slot only while it is in flight."""
        async with self._slots:
            return await self._client.chat.completions.create(
                model=request.model,
                messages=_messages(request),
                temperature=request.temperature,
                max_tokens=request.max_tokens,
                response_format=_response_format(response_format),
            )


def _messages(request: ChatRequest) -> list[ChatCompletionMessageParam]:
    system: ChatCompletionSystemMessageParam = {"role": "system", "content": request.system}
    user: ChatCompletionUserMessageParam
    if request.images:
        text: ChatCompletionContentPartTextParam = {"type": "text", "text": request.prompt}
        parts: list[ChatCompletionContentPartTextParam | ChatCompletionContentPartImageParam] = [text]
        for image in request.images:
            encoded = base64.b64encode(image).decode("ascii")
            image_part: ChatCompletionContentPartImageParam = {
                "type": "image_url",
                "image_url": {"url": f"data:image/png;base64,{encoded}", "detail": "high"},
            }
            parts.append(image_part)
        user = {"role": "user", "content": parts}
    else:
        user = {"role": "user", "content": request.prompt}
    messages: list[ChatCompletionMessageParam] = [system, user]
    for reply, follow_up in request.follow_up:
        assistant: ChatCompletionAssistantMessageParam = {"role": "assistant", "content": reply}
        question: ChatCompletionUserMessageParam = {"role": "user", "content": follow_up}
        messages.extend((assistant, question))
    return messages


def _response_format(response_format: ResponseFormat) -> completion_create_params.ResponseFormat | Omit:
    if response_format == "json_schema":
        return {
            "type": "json_schema",
            "json_schema": {"name": ANSWER_SCHEMA_NAME, "strict": True, "schema": answer_json_schema()},
        }
    if response_format == "json_object":
        return {"type": "json_object"}
    return omit


def _reply(
    completion: openai.types.chat.ChatCompletion, latency_ms: float, response_format: ResponseFormat, attempts: int
) -> ChatReply:
    choice = completion.choices[0] if completion.choices else None
    usage = completion.usage
    return ChatReply(
        text=choice.message.content if choice else None,
        tokens_in=usage.prompt_tokens if usage else 0,
        tokens_out=usage.completion_tokens if usage else 0,
        latency_ms=round(latency_ms, 3),
        response_format=response_format,
        attempts=attempts,
        finish_reason=choice.finish_reason if choice else None,
        refusal=choice.message.refusal if choice else None,
    )


def _transient_retry_after(error: openai.APIConnectionError | openai.APIStatusError) -> float | None:
    """The server's requested delay for a retryable failure; raises :class:`LlmRequestError` for the others."""
    if isinstance(error, openai.APIConnectionError):
        return None
    if error.status_code in RETRYABLE_STATUS or error.status_code >= 500:
        return retry_after_seconds(error.response.headers)
    raise LlmRequestError(_refusal_message(error)) from error


def retry_after_seconds(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """Seconds the server asks to wait: ``retry-after-ms``, or ``Retry-After`` in seconds or as an HTTP date."""
    lowered = {name.lower(): value for name, value in headers.items()}
    if (milliseconds := lowered.get("retry-after-ms")) is not None:
        try:
            return max(0.0, float(milliseconds) / 1000)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    waited: float = (when - (now or datetime.now(UTC))).total_seconds()
    return max(0.0, waited)


def _unavailable(error: openai.APIConnectionError | openai.APIStatusError, *, failures: int) -> LlmUnavailableError:
    """A transient failure as the error to retry (or to nak with); raises :class:`LlmRequestError` for the others."""
    retry_after = _transient_retry_after(error)
    message = f"the LLM endpoint is unavailable after {failures} attempt(s): {_error_text(error)}"
    return LlmUnavailableError(message, retry_after=retry_after)


def _server_error(error: BaseException) -> openai.OpenAIError:
    """The openai error an :class:`LlmUnavailableError` was raised from (see :func:`_unavailable`)."""
    cause = error.__cause__
    assert isinstance(cause, openai.OpenAIError), "an LlmUnavailableError is raised from the openai error"
    return cause


def _retry_delay(failures: int, error: BaseException) -> float:
    """The server's ``Retry-After`` when it sent one, else :data:`BACKOFF`."""
    retry_after = error.retry_after if isinstance(error, LlmUnavailableError) else None
    return retry_after if retry_after is not None else BACKOFF.delay(failures)


def _error_text(error: openai.OpenAIError) -> str:
    """The server's error as the lineage records it, secrets masked: servers quote API keys in errors."""
    if isinstance(error, openai.APIStatusError):
        return f"HTTP {error.status_code}: {redact(str(error.message))[:MAX_ERROR_CHARS]}"
    return f"{type(error).__name__}: {redact(str(error))[:MAX_ERROR_CHARS]}"


def _refusal_message(error: openai.APIStatusError) -> str:
    hint = PERMANENT_STATUS_HINTS.get(error.status_code, "check the request the lineage recorded")
    return f"the LLM endpoint refused the request ({_error_text(error)}); {hint}"
