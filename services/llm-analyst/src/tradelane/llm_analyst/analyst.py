"""The vision analyst: the execution's charts and numbers to a model, a validated answer back.

One execution is one analysis step with sub-records (``AnalysisCompleted.llm_calls``):

1. the strategy's bar size: the rendered system and analysis prompts with its chart PNG;
2. each extra timeframe of ``analysis.timeframes``: the same templates rendered with that
   timeframe's own snapshot (its bars and indicators) and its own chart PNG, as the earlier
   steps fetched, computed and drew it;
3. with extra timeframes, a consolidation call combines the readings into the final analysis.

Every call asks for an :class:`~tradelane.prompts.answer.AnalysisAnswer`. A reply that is not
one gets one repair request quoting the validation error; if the repaired reply is still
invalid, the analysis fails with both replies and errors kept (:class:`AnalysisFailedError`).

Each call is recorded in ``llm.calls`` with its tokens and estimated cost, whatever its outcome.
With a daily budget (:mod:`tradelane.llm_analyst.budget`), each recorded call is counted
against it, and crossings of its thresholds are published. Valid replies go to the response
cache under :func:`cache_key`; a call is answered from the
cache when the strategy sets ``analysis.cache`` or when the cached reply was given to this
same execution (a redelivery after a later call failed does not pay twice).

A cached answer costs nothing, so the budget is asked only when a call misses the cache: once
the day's budget is spent, such a call is refused (:class:`OverBudgetError`) before the model
is asked, while an analysis whose every call is cached is still answered.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal
from uuid import uuid4

import structlog
from nats.js.errors import ObjectNotFoundError

from tradelane.contracts.events import Analysis, ChartRendered, LlmCall, TimeframeChart
from tradelane.contracts.llm_pricing import ModelPrice, estimate_cost
from tradelane.contracts.market import ObjectRef
from tradelane.contracts.strategy import BarSize
from tradelane.llm_analyst.budget import DailyBudget
from tradelane.llm_analyst.client import (
    ChatReply,
    ChatRequest,
    LlmClient,
    LlmRequestError,
    LlmUnavailableError,
    RetryBudget,
)
from tradelane.llm_analyst.templates import ResolvedTemplate, TemplateSource, TemplateUnusableError
from tradelane.prompts.answer import ANSWER_SCHEMA_NAME, AnalysisAnswer, InvalidAnswerError, parse_answer
from tradelane.prompts.context import template_context
from tradelane.prompts.limits import DEFAULT_LIMITS, RenderLimits
from tradelane.store.llm import CallRecord, CallStatus, LlmRepository

log = structlog.get_logger(__name__)

UNAVAILABLE = "analysis_unavailable"
MAX_ERROR_REPLY_CHARS = 2000
CACHE_KEY_VERSION = 1
"""Part of every cache key: bump it when the answer schema or the request shape changes."""

REPAIR_REQUEST = {
    "en": "Your reply is not a valid answer: {error}. Reply again with only the corrected JSON object, "
    "following the schema exactly.",
    "zh": "你的回答不是有效的答案：{error}。请只回复修正后的 JSON 对象，严格遵循 schema。",  # noqa: RUF001 - Chinese punctuation
}

FetchImage = Callable[[ObjectRef], Awaitable[bytes]]


@dataclass(frozen=True)
class AnalystConfig:
    """The service settings the analyst needs."""

    default_model: str
    provider: str
    prices: dict[str, ModelPrice]
    retry_budget_seconds: float
    render_limits: RenderLimits = DEFAULT_LIMITS


@dataclass(frozen=True)
class Outcome:
    """A finished analysis: the final reading, every call behind it, and the charts shown."""

    analysis: Analysis
    calls: tuple[LlmCall, ...]
    charts: tuple[ObjectRef, ...]


class AnalysisFailedError(Exception):
    """The analysis cannot succeed for this input (bad template, invalid answers, refused request)."""

    def __init__(self, message: str, calls: Sequence[LlmCall] = (), charts: Sequence[ObjectRef] = ()) -> None:
        super().__init__(message)
        self.calls = tuple(calls)
        self.charts = tuple(charts)


class OverBudgetError(AnalysisFailedError):
    """A call missed the response cache and the day's LLM budget is spent, so the model was not asked."""


class AnalysisInterruptedError(Exception):
    """The model is unavailable for now; retry the message after ``retry_after`` seconds."""

    def __init__(self, message: str, retry_after: float | None, calls: Sequence[LlmCall] = ()) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.calls = tuple(calls)


def cache_key(
    model: str, system: str, prompt: str, image_hashes: Sequence[str], temperature: float, max_tokens: int
) -> str:
    """sha256 over everything that shapes a reply: model, both prompts, images, parameters, schema."""
    material = {
        "version": CACHE_KEY_VERSION,
        "model": model,
        "system_sha256": _sha256(system.encode()),
        "prompt_sha256": _sha256(prompt.encode()),
        "images": list(image_hashes),
        "temperature": temperature,
        "max_tokens": max_tokens,
        "schema": ANSWER_SCHEMA_NAME,
    }
    return _sha256(json.dumps(material, sort_keys=True).encode())


def unavailable_analysis(reason: str, model: str) -> Analysis:
    """The reading when the analyst failed and the strategy asked for HOLD: neutral, confidence 0."""
    return Analysis(
        bias="neutral",
        trend="sideways",
        confidence=0,
        key_factors=(UNAVAILABLE, reason[:500]),
        reasoning=f"The analysis is unavailable, so no trade is suggested: {reason}",
        model=model,
    )


@dataclass
class _Execution:
    """What one analysis of one message accumulates."""

    msg: ChartRendered
    model: str
    budget: RetryBudget
    calls: list[LlmCall] = field(default_factory=list)
    charts: list[ObjectRef] = field(default_factory=list)


class LlmAnalyst:
    """Runs the calls of one execution against the model (see the module docstring)."""

    def __init__(
        self,
        *,
        client: LlmClient,
        templates: TemplateSource,
        calls: LlmRepository,
        fetch_image: FetchImage,
        config: AnalystConfig,
        budget: DailyBudget | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._client = client
        self._budget = budget
        self._templates = templates
        self._calls = calls
        self._fetch_image = fetch_image
        self._config = config
        self._clock = clock

    def model_for(self, msg: ChartRendered) -> str:
        return msg.strategy.analysis.model or self._config.default_model

    async def analyse(self, msg: ChartRendered) -> Outcome:
        """The analysis of one chart message.

        Raises :class:`AnalysisFailedError` (retrying will not help; :class:`OverBudgetError` when a call needs the
        model and the day's budget is spent) or :class:`AnalysisInterruptedError` (it may).
        """
        run = _Execution(msg, self.model_for(msg), RetryBudget(self._config.retry_budget_seconds))
        try:
            analysis = await self._run(run)
        except (TemplateUnusableError, LlmRequestError) as error:
            raise AnalysisFailedError(str(error), run.calls, run.charts) from error
        except LlmUnavailableError as error:
            raise AnalysisInterruptedError(str(error), error.retry_after, run.calls) from error
        return Outcome(analysis, tuple(run.calls), tuple(run.charts))

    async def _run(self, run: _Execution) -> Analysis:
        msg = run.msg
        settings = msg.strategy.analysis
        charts = _charts(msg)
        system = await self._templates.resolve("system", settings, msg.strategy_id)
        template = await self._templates.resolve("analysis", settings, msg.strategy_id)
        now = msg.point_in_time(self._clock())

        readings: list[tuple[BarSize, Analysis]] = []
        for chart in charts:
            timeframe = chart.snapshot.bar_size
            images = await self._images(run, chart)
            context = template_context(chart.snapshot, msg.strategy, now=now, chart_attached=bool(images))
            readings.append((timeframe, await self._ask(run, "analysis", timeframe, system, template, context, images)))
        if len(readings) == 1:
            return readings[0][1]
        consolidation = await self._templates.resolve("consolidation", settings, msg.strategy_id)
        context = template_context(msg.snapshot, msg.strategy, now=now, analyses=readings)
        return await self._ask(run, "consolidation", msg.strategy.bar_size, system, consolidation, context, ())

    async def _images(self, run: _Execution, chart: TimeframeChart) -> tuple[bytes, ...]:
        ref = chart.png
        if ref is None:
            log.info("analysis_without_chart", reason="the strategy does not render a PNG (render_png is false)")
            return ()
        try:
            data = await self._fetch_image(ref)
        except ObjectNotFoundError as error:
            msg = f"chart PNG {ref.name} is no longer in the object store bucket {ref.bucket!r}; run the strategy again"
            raise AnalysisFailedError(msg, run.calls, run.charts) from error
        run.charts.append(ref)
        return (data,)

    async def _ask(
        self,
        run: _Execution,
        purpose: Literal["analysis", "consolidation"],
        timeframe: BarSize,
        system: ResolvedTemplate,
        template: ResolvedTemplate,
        context: dict[str, Any],
        images: tuple[bytes, ...],
    ) -> Analysis:
        """One call: from the cache, or asked (and repaired once); recorded either way."""
        settings = run.msg.strategy.analysis
        request = ChatRequest(
            model=run.model,
            system=await system.render(context, self._config.render_limits),
            prompt=await template.render(context, self._config.render_limits),
            images=images,
            temperature=settings.temperature,
            max_tokens=settings.max_tokens,
        )
        hashes = tuple(_sha256(image) for image in images)
        call = LlmCall(
            purpose=purpose,
            timeframe=timeframe,
            provider=self._config.provider,
            model=run.model,
            templates=(system.ref, template.ref),
            system_prompt=request.system,
            prompt=request.prompt,
            images=hashes,
            temperature=request.temperature,
            max_tokens=request.max_tokens,
            cache_key=cache_key(
                run.model, request.system, request.prompt, hashes, request.temperature, request.max_tokens
            ),
        )
        cached = await self._from_cache(run, call)
        if cached is not None:
            call = cached
        else:
            await self._refuse_over_budget(run)
            call = await self._asked_and_stored(run, call, request)
        await self._finish(run, call, "succeeded")
        assert call.parsed is not None
        return call.parsed

    async def _refuse_over_budget(self, run: _Execution) -> None:
        """Raise :class:`OverBudgetError` when the day's budget is spent: the call would pay the model."""
        reason = await self._budget.exhausted() if self._budget is not None else None
        if reason is not None:
            raise OverBudgetError(reason, run.calls, run.charts)

    async def _asked_and_stored(self, run: _Execution, call: LlmCall, request: ChatRequest) -> LlmCall:
        """The call asked of the model; a valid answer is cached, a failure recorded and raised."""
        replies: list[ChatReply] = []
        try:
            call = await self._asked(run, call, request, replies)
        except (LlmUnavailableError, LlmRequestError) as error:
            await self._finish(run, _with_replies(call, replies), "failed", str(error))
            raise
        if call.parsed is None:
            await self._finish(run, call, "invalid", call.validation_errors[-1])
            raise AnalysisFailedError(_invalid_message(call), run.calls, run.charts)
        await self._calls.store_reply(
            call.cache_key,
            model=run.model,
            reply=call.replies[-1],
            tokens_in=call.tokens_in,
            tokens_out=call.tokens_out,
            execution_id=run.msg.execution_id,
        )
        return call

    async def _asked(self, run: _Execution, call: LlmCall, request: ChatRequest, replies: list[ChatReply]) -> LlmCall:
        replies.append(await self._client.complete(request, run.budget))
        errors: list[str] = []
        answer = None
        for attempt in range(2):
            reply = replies[-1]
            try:
                answer = _answer_of(reply)
                break
            except InvalidAnswerError as error:
                errors.append(str(error))
                if attempt == 0:
                    language = run.msg.strategy.analysis.language
                    repair = REPAIR_REQUEST[language].format(error=error)
                    follow_up = ((reply.text or "", repair),)
                    replies.append(await self._client.complete(replace(request, follow_up=follow_up), run.budget))
        call = _with_replies(call, replies).model_copy(update={"validation_errors": tuple(errors)})
        if answer is not None:
            call = call.model_copy(update={"parsed": answer.to_analysis(run.model)})
        return call

    async def _from_cache(self, run: _Execution, call: LlmCall) -> LlmCall | None:
        cached = await self._calls.cached_reply(
            call.cache_key, execution_id=run.msg.execution_id, any_execution=run.msg.strategy.analysis.cache
        )
        if cached is None:
            return None
        try:
            answer = parse_answer(cached.reply)
        except InvalidAnswerError:
            return None
        log.info("llm_answer_from_cache", cache_key=call.cache_key, first_execution=str(cached.execution_id))
        return call.model_copy(
            update={
                "replies": (cached.reply,),
                "parsed": answer.to_analysis(run.model),
                "cached": True,
                "cost": Decimal(0),
            }
        )

    async def _finish(self, run: _Execution, call: LlmCall, status: CallStatus, error: str | None = None) -> None:
        """Price the call, keep it for the lineage, and record it in ``llm.calls``."""
        if not call.cached:
            call = call.model_copy(
                update={"cost": estimate_cost(self._config.prices, call.model, call.tokens_in, call.tokens_out)}
            )
        run.calls.append(call)
        await self._calls.record_call(
            CallRecord(
                id=uuid4(),
                execution_id=run.msg.execution_id,
                strategy_id=run.msg.strategy_id,
                purpose=call.purpose,
                timeframe=call.timeframe.value,
                provider=call.provider,
                model=call.model,
                status=status,
                cached=call.cached,
                tokens_in=call.tokens_in,
                tokens_out=call.tokens_out,
                latency_ms=call.latency_ms,
                cost=call.cost,
                error=error,
                record=call.model_dump(mode="json"),
                occurred_at=self._clock(),
            )
        )
        if self._budget is not None:
            await self._budget.after_call(run.msg, call.model)
        log.info(
            "llm_call_finished",
            purpose=call.purpose,
            timeframe=call.timeframe.value,
            model=call.model,
            status=status,
            cached=call.cached,
            tokens_in=call.tokens_in,
            tokens_out=call.tokens_out,
            latency_ms=call.latency_ms,
        )


def _charts(msg: ChartRendered) -> tuple[TimeframeChart, ...]:
    """The bar size's chart, then each extra timeframe's; refuses a message that lacks one the strategy asks for."""
    charts = (msg, *msg.timeframes)
    drawn = {chart.snapshot.bar_size for chart in charts}
    missing = [frame.value for frame in msg.strategy.extra_timeframes if frame not in drawn]
    if missing:
        text = (
            f"the chart message has no chart of the {', '.join(missing)} timeframe(s) that analysis.timeframes "
            "asks for (it was made before they were asked for); replay the execution from its request"
        )
        raise AnalysisFailedError(text)
    return charts


def _with_replies(call: LlmCall, replies: Sequence[ChatReply]) -> LlmCall:
    return call.model_copy(
        update={
            "replies": tuple(reply.text or "" for reply in replies),
            "tokens_in": sum(reply.tokens_in for reply in replies),
            "tokens_out": sum(reply.tokens_out for reply in replies),
            "latency_ms": round(sum(reply.latency_ms for reply in replies), 3),
            "response_format": replies[-1].response_format if replies else None,
        }
    )


def _answer_of(reply: ChatReply) -> AnalysisAnswer:
    if reply.refusal:
        raise InvalidAnswerError(f"the model refused to answer: {reply.refusal}")
    return parse_answer(reply.text)


def _invalid_message(call: LlmCall) -> str:
    reply = call.replies[-1] if call.replies else ""
    if len(reply) > MAX_ERROR_REPLY_CHARS:
        reply = f"{reply[:MAX_ERROR_REPLY_CHARS]}... ({len(reply)} characters)"
    return (
        f"the model's {call.purpose} of the {call.timeframe.value} timeframe is not a valid answer after one repair "
        f"attempt: {call.validation_errors[-1]}; last reply: {reply}"
    )


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
