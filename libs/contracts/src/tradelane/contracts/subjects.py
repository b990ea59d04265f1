"""Every subject and stream name of tradelane; nothing else spells one."""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from tradelane.contracts.envelope import Envelope
from tradelane.contracts.events import (
    AnalysisCompleted,
    BarsFetched,
    ChartRendered,
    ExecutionRequested,
    IndicatorsComputed,
    SignalGenerated,
    SignalRejected,
    StepFailed,
)

PIPELINE_STREAM: Final = "PIPELINE"
TRADING_STREAM: Final = "TRADING"
DEAD_LETTER_STREAM: Final = "DEADLETTER"
CHART_BUCKET: Final = "charts"

PIPELINE_ALL: Final = "pipeline.>"
TRADING_ALL: Final = "trading.>"
DEAD_LETTER_ALL: Final = "deadletter.>"

EXECUTION_REQUESTED: Final = "pipeline.execution.requested"
MARKET_DATA_FETCHED: Final = "pipeline.market_data.fetched"
INDICATORS_COMPUTED: Final = "pipeline.indicators.computed"
CHART_RENDERED: Final = "pipeline.chart.rendered"
ANALYSIS_COMPLETED: Final = "pipeline.analysis.completed"
SIGNAL_GENERATED: Final = "pipeline.signal.generated"
SIGNAL_REJECTED: Final = "pipeline.signal.rejected"
STEP_FAILED: Final = "pipeline.step.failed"


class Step(StrEnum):
    """The steps of an execution, in order; each names the step that produced a message."""

    REQUESTED = "requested"
    MARKET_DATA = "market_data"
    INDICATORS = "indicators"
    CHART = "chart"
    ANALYSIS = "analysis"
    SIGNAL = "signal"


_SUBJECT_OF_EVENT: Final[dict[type[Envelope], str]] = {
    ExecutionRequested: EXECUTION_REQUESTED,
    BarsFetched: MARKET_DATA_FETCHED,
    IndicatorsComputed: INDICATORS_COMPUTED,
    ChartRendered: CHART_RENDERED,
    AnalysisCompleted: ANALYSIS_COMPLETED,
    SignalGenerated: SIGNAL_GENERATED,
    SignalRejected: SIGNAL_REJECTED,
    StepFailed: STEP_FAILED,
}

_EVENT_OF_SUBJECT: Final = {subject: event for event, subject in _SUBJECT_OF_EVENT.items()}

_STEP_OF_SUBJECT: Final = {
    EXECUTION_REQUESTED: Step.REQUESTED,
    MARKET_DATA_FETCHED: Step.MARKET_DATA,
    INDICATORS_COMPUTED: Step.INDICATORS,
    CHART_RENDERED: Step.CHART,
    ANALYSIS_COMPLETED: Step.ANALYSIS,
    SIGNAL_GENERATED: Step.SIGNAL,
    SIGNAL_REJECTED: Step.SIGNAL,
}

_CONSUMED_BY_STEP: Final = {
    Step.MARKET_DATA: EXECUTION_REQUESTED,
    Step.INDICATORS: MARKET_DATA_FETCHED,
    Step.CHART: INDICATORS_COMPUTED,
    Step.ANALYSIS: CHART_RENDERED,
    Step.SIGNAL: ANALYSIS_COMPLETED,
}


def subject_for(event: Envelope) -> str:
    """The subject an event is published on."""
    return _SUBJECT_OF_EVENT[type(event)]


def event_type_for(subject: str) -> type[Envelope] | None:
    """The contract a subject carries, or None for a subject tradelane does not know."""
    return _EVENT_OF_SUBJECT.get(subject)


def step_of(subject: str) -> Step | None:
    """The step whose output a subject carries (None for step.failed and unknown subjects)."""
    return _STEP_OF_SUBJECT.get(subject)


def consumed_by(step: Step) -> str:
    """The subject a pipeline step consumes."""
    return _CONSUMED_BY_STEP[step]


def dead_letter(subject: str) -> str:
    """Where a message of ``subject`` goes when its step gives up on it."""
    return f"deadletter.{subject}"


# Operations (core NATS request/reply, not stored in a stream)
HEALTH: Final = "tradelane.health"
"""Every service process answers a request here with a HealthReport (gather all replies)."""


def health_of(service: str) -> str:
    """Where one service's processes answer health requests."""
    return f"{HEALTH}.{service}"
