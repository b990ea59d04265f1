"""Step 5: read the chart and indicators of an execution, with the offline rules or a vision model.

Which analyst (``strategy.analysis.analyst``): ``offline`` always uses the rules; ``auto`` uses
the model when an endpoint is configured, else the rules; ``llm`` requires the model.

When the model analysis fails, the strategy's ``analysis.on_failure`` decides:

- ``fail``: an invalid answer, a refused request or an unusable template fails the step at
  once (``PermanentStepError``: ``StepFailed`` with the reason, and a dead letter); an
  unavailable model (429, 5xx, timeouts past the retry budget) naks the message with the
  server's delay (``TransientStepError``) until the retry horizon is spent.
- ``hold``: the same failures give a neutral analysis with confidence 0 and the key factor
  ``analysis_unavailable``, which the signal step turns into HOLD - at once for a permanent
  failure, on the last delivery the retry rules allow for an unavailable model.

Either way a failure never becomes a BUY or SELL.

Once the day's LLM budget is spent (``TRADELANE_LLM_DAILY_BUDGET_USD``), no model is asked until
the next UTC day. A cached answer costs nothing, so an analysis whose every call is in the
response cache (``analysis.cache``, or an earlier delivery of the same execution) is still
answered from it; one that needs the model is treated as if no endpoint were configured:
``auto`` uses the offline rules, ``llm`` fails the step (or holds, with ``on_failure: hold``)
saying the budget is spent. Falling back only where the strategy allows the rules keeps a
strategy that asked for the model from trading on another analyst's reading.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import structlog

from tradelane.contracts.events import Analysis, AnalysisCompleted, ChartRendered, LlmCall
from tradelane.contracts.market import ObjectRef
from tradelane.llm_analyst import offline
from tradelane.llm_analyst.analyst import (
    AnalysisFailedError,
    AnalysisInterruptedError,
    LlmAnalyst,
    OverBudgetError,
    unavailable_analysis,
)
from tradelane.llm_analyst.delivery import Delivery
from tradelane.runtime.errors import PermanentStepError, TransientStepError
from tradelane.runtime.retries import RetryRules

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
        retry_rules: RetryRules,
        current_delivery: Callable[[], Delivery | None] = lambda: None,
    ) -> None:
        self._llm = llm
        self._retry_rules = retry_rules
        self._current_delivery = current_delivery

    def use_llm(self, llm: LlmAnalyst) -> None:
        """Analyse with ``llm`` from now on (the service opens it at start-up)."""
        self._llm = llm

    async def on_chart_rendered(self, msg: ChartRendered) -> AnalysisCompleted:
        """The analysis of the execution's chart (see the module docstring for which analyst and failures)."""
        settings = msg.strategy.analysis
        if settings.analyst == "offline":
            return _offline(msg)
        if self._llm is None:
            return self._without_model(msg, NO_ENDPOINT, settings.model or "none")
        try:
            outcome = await self._llm.analyse(msg)
        except OverBudgetError as error:
            if settings.analyst == "auto":
                log.warning("analysis_offline_over_budget", reason=str(error))
            return self._without_model(msg, str(error), self._llm.model_for(msg), error.calls, error.charts)
        except AnalysisFailedError as error:
            return self._failed(msg, str(error), self._llm.model_for(msg), error.calls, error.charts)
        except AnalysisInterruptedError as error:
            if settings.on_failure == "hold" and self._last_try():
                return self._held(msg, str(error), self._llm.model_for(msg), error.calls, ())
            raise TransientStepError(str(error), retry_after=error.retry_after) from error
        return _completed(msg, outcome.analysis, outcome.charts, outcome.calls)

    def _without_model(
        self,
        msg: ChartRendered,
        reason: str,
        model: str,
        calls: tuple[LlmCall, ...] = (),
        charts: tuple[ObjectRef, ...] = (),
    ) -> AnalysisCompleted:
        """The model cannot be asked (no endpoint, or a cache miss with the day's budget spent): 'auto' falls back
        to the rules, 'llm' fails (or holds) with ``reason``."""
        if msg.strategy.analysis.analyst == "auto":
            return _offline(msg)
        return self._failed(msg, reason, model, calls, charts)

    def _last_try(self) -> bool:
        """The retry rules give up on a transient failure of this delivery (see ``RetryRules.horizon_spent``)."""
        delivery = self._current_delivery()
        if delivery is None:
            return self._retry_rules.horizon_spent(1, None, datetime.now(UTC))
        return self._retry_rules.horizon_spent(delivery.deliveries, delivery.stored_at, datetime.now(UTC))

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
