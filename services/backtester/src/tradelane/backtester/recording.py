"""What each decision's execution answered, recorded once per decision: its analysis, its signal, its failure.

The backtester's consumers see every analysis and failed step of the pipeline, and the signals of backtests only
(they have subjects of their own: :data:`~tradelane.contracts.subjects.BACKTEST_SIGNAL_ALL`); messages of
executions that are no backtest's (no ``backtest`` tag) are acked unread. A redelivered message changes nothing:
the repository fills in each part of a decision once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import structlog

from tradelane.contracts import subjects
from tradelane.contracts.envelope import Envelope
from tradelane.contracts.events import LlmCall, SignalGenerated, SignalRejected, StepFailed
from tradelane.runtime.errors import PermanentStepError
from tradelane.store.backtests import BacktestRepository

log = structlog.get_logger(__name__)


def of_a_backtest(body: Mapping[str, Any]) -> bool:
    """Whether a message belongs to a backtest's decision (read before the whole message is)."""
    return body.get("backtest") is not None


class ModelCalls(Envelope):
    """What the recorder reads of an :class:`~tradelane.contracts.events.AnalysisCompleted`: its model calls.

    The rest (the snapshot's 60 bars above all) is left unread: validating it was the larger part of recording an
    analysis, and the steps that use it validate it.
    """

    llm_calls: tuple[LlmCall, ...] = ()


def model_cost(analysis: ModelCalls) -> tuple[Decimal, int, int]:
    """The cost of an analysis's model calls not answered from the cache, its cache hits and its misses."""
    asked = [call for call in analysis.llm_calls if not call.cached]
    cost = sum((call.cost or Decimal(0) for call in asked), Decimal(0))
    return cost, len(analysis.llm_calls) - len(asked), len(asked)


class DecisionRecorder:
    """Records decisions' answers in the repository and tells the runner (``answered``) that one came in."""

    def __init__(self, backtests: BacktestRepository, answered: Callable[[], None]) -> None:
        self._backtests = backtests
        self._answered = answered

    async def on_analysis(self, body: Mapping[str, Any]) -> None:
        """The model calls of a decision's analysis: cost, cache hits and misses."""
        if not of_a_backtest(body):
            return
        analysis = ModelCalls.model_validate(body)
        cost, hits, misses = model_cost(analysis)
        if await self._backtests.record_analysis(analysis.execution_id, cost, hits, misses):
            log.debug("backtest_analysis_recorded", execution_id=str(analysis.execution_id), cost=str(cost))
            self._answered()

    async def on_signal(self, subject: str, body: Mapping[str, Any]) -> None:
        """The signal step's answer to a decision: a signal, or a candidate a rule refused."""
        if not of_a_backtest(body):
            return
        contract = subjects.event_type_for(subject)
        if contract is SignalGenerated:
            generated = SignalGenerated.model_validate(body)
            signal, analysis, rule = generated.signal, generated.analysis, None
            execution_id = generated.execution_id
        elif contract is SignalRejected:
            rejected = SignalRejected.model_validate(body)
            signal, analysis, rule = rejected.candidate, rejected.analysis, rejected.rule
            execution_id = rejected.execution_id
        else:
            msg = f"{subject!r} carries no signal the backtester knows"
            raise PermanentStepError(msg)
        recorded = await self._backtests.record_signal(
            execution_id,
            action=signal.action.value,
            bias=analysis.bias,
            confidence=signal.confidence,
            rejected_rule=rule,
            signal=dict(body),
        )
        if recorded:
            self._answered()

    async def on_failure(self, body: Mapping[str, Any]) -> None:
        """A step of a decision's execution gave up: the decision failed, with the step's reason."""
        if not of_a_backtest(body):
            return
        failure = StepFailed.model_validate(body)
        if await self._backtests.record_failure(failure.execution_id, f"{failure.step}: {failure.error}"):
            log.info("backtest_decision_failed", execution_id=str(failure.execution_id), step=failure.step)
            self._answered()
