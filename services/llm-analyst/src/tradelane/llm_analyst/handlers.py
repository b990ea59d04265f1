"""Step 5: read the chart and indicators of an execution, with the offline rules or a vision model.

Which analyst (``strategy.analysis.analyst``): ``offline`` always uses the rules; ``auto`` uses
the model when an endpoint is configured, else the rules; ``llm`` requires the model.

When the model analysis fails, the strategy's ``analysis.on_failure`` decides:

- ``fail``: an invalid answer, a refused request or an unusable template fails the step at
  once (``PermanentStepError``: ``StepFailed`` with the reason, and a dead letter); an
  unavailable model (429, 5xx, timeouts past the retry budget) naks the message with the
  server's delay (``TransientStepError``) until its deliveries run out.
- ``hold``: the same failures give a neutral analysis with confidence 0 and the key factor
  ``analysis_unavailable``, which the signal step turns into HOLD - at once for a permanent
  failure, on the last delivery for an unavailable model.

Either way a failure never becomes a BUY or SELL.
"""

from __future__ import annotations

from collections.abc import Callable

import structlog

from tradelane.contracts.events import Analysis, AnalysisCompleted, ChartRendered, LlmCall
from tradelane.contracts.market import ObjectRef
from tradelane.llm_analyst import offline
from tradelane.llm_analyst.analyst import (
    AnalysisFailedError,
    AnalysisInterruptedError,
    LlmAnalyst,
    unavailable_analysis,
)
from tradelane.llm_analyst.delivery import Delivery, kept_alive
from tradelane.runtime.errors import PermanentStepError, TransientStepError

log = structlog.get_logger(__name__)

NO_ENDPOINT = (
    "the strategy asks for analyst 'llm' but no LLM endpoint is configured: set TRADELANE_LLM_BASE_URL, "
    "TRADELANE_LLM_MODEL and TRADELANE_LLM_API_KEY on the llm-analyst, or set analysis.analyst to 'auto'"
)


class Analyst:
    """Chooses the analyst for each execution and turns its failures into delivery decisions."""

    def __init__(
        self,
        llm: LlmAnalyst | None,
        *,
        max_deliver: int,
        heartbeat_seconds: float,
        current_delivery: Callable[[], Delivery | None] = lambda: None,
    ) -> None:
        self._llm = llm
        self._max_deliver = max_deliver
        self._heartbeat_seconds = heartbeat_seconds
        self._current_delivery = current_delivery

    def use_llm(self, llm: LlmAnalyst) -> None:
        """Analyse with ``llm`` from now on (the service opens it at start-up)."""
        self._llm = llm

    async def on_chart_rendered(self, msg: ChartRendered) -> AnalysisCompleted:
        """The analysis of the execution's chart (see the module docstring for which analyst and failures)."""
        settings = msg.strategy.analysis
        if settings.analyst == "offline" or (settings.analyst == "auto" and self._llm is None):
            return _offline(msg)
        if self._llm is None:
            return self._failed(msg, NO_ENDPOINT, settings.model or "none")
        delivery = self._current_delivery()
        try:
            async with kept_alive(delivery, self._heartbeat_seconds):
                outcome = await self._llm.analyse(msg)
        except AnalysisFailedError as error:
            return self._failed(msg, str(error), self._llm.model_for(msg), error.calls, error.charts)
        except AnalysisInterruptedError as error:
            deliveries = delivery.deliveries if delivery is not None else 1
            if settings.on_failure == "hold" and deliveries >= self._max_deliver:
                return self._held(msg, str(error), self._llm.model_for(msg), error.calls, ())
            raise TransientStepError(str(error), retry_after=error.retry_after) from error
        return _completed(msg, outcome.analysis, outcome.charts, outcome.calls)

    def _failed(
        self,
        msg: ChartRendered,
        reason: str,
        model: str,
        calls: tuple[LlmCall, ...] = (),
        charts: tuple[ObjectRef, ...] = (),
    ) -> AnalysisCompleted:
        if msg.strategy.analysis.on_failure == "hold":
            return self._held(msg, reason, model, calls, charts)
        raise PermanentStepError(reason)

    @staticmethod
    def _held(
        msg: ChartRendered, reason: str, model: str, calls: tuple[LlmCall, ...], charts: tuple[ObjectRef, ...]
    ) -> AnalysisCompleted:
        log.warning("analysis_unavailable_hold", reason=reason)
        return _completed(msg, unavailable_analysis(reason, model), charts, calls)


def _offline(msg: ChartRendered) -> AnalysisCompleted:
    """The offline analyst's reading of the indicators; it is shown no chart, so ``charts`` is empty."""
    return _completed(msg, offline.analyse(msg.snapshot), (), ())


def _completed(
    msg: ChartRendered, analysis: Analysis, charts: tuple[ObjectRef, ...], calls: tuple[LlmCall, ...]
) -> AnalysisCompleted:
    return msg.follow(
        AnalysisCompleted,
        strategy=msg.strategy,
        snapshot=msg.snapshot,
        analysis=analysis,
        charts=charts,
        llm_calls=calls,
    )
