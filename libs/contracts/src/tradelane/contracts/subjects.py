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
from tradelane.contracts.llm_budget import LlmBudgetCrossed
from tradelane.contracts.outcomes import OutcomeRecorded
from tradelane.contracts.trading import (
    OrderAccepted,
    OrderCancelled,
    OrderFilled,
    OrderPartiallyFilled,
    OrderRejected,
    OrderSubmitted,
    PositionChanged,
    SignalSkipped,
    TradingStateChanged,
)

PIPELINE_STREAM: Final = "PIPELINE"
TRADING_STREAM: Final = "TRADING"
DEAD_LETTER_STREAM: Final = "DEADLETTER"
CHART_BUCKET: Final = "charts"
PAYLOAD_BUCKET: Final = "payloads"
"""Bars chunks and indicator series, named by sha256: what messages carry by reference (claim check)."""
KEPT_CHART_BUCKET: Final = "kept-charts"
"""The chart PNGs signals were made from, copied by the ledger: kept as long as the signals, never expired."""


def object_stream(bucket: str) -> str:
    """The JetStream stream that holds Object Store ``bucket`` (its chunks and its objects' info)."""
    return f"OBJ_{bucket}"


PIPELINE_ALL: Final = "pipeline.>"
TRADING_ALL: Final = "trading.>"
DEAD_LETTER_ALL: Final = "deadletter.>"
DEBUG_ALL: Final = "debug.>"
"""Where operators replay messages to look at them without feeding the pipeline (``--to-subject debug.x``)."""

EXECUTION_REQUESTED: Final = "pipeline.execution.requested"
MARKET_DATA_FETCHED: Final = "pipeline.market_data.fetched"
"""Bars of executions that are no backtest's (a backtest's travel on :func:`of_backtests` subjects, one token longer,
which this does not match)."""
INDICATORS_COMPUTED: Final = "pipeline.indicators.computed"
CHART_RENDERED: Final = "pipeline.chart.rendered"
ANALYSIS_COMPLETED: Final = "pipeline.analysis.completed"
SIGNAL_GENERATED: Final = "pipeline.signal.generated"
SIGNAL_REJECTED: Final = "pipeline.signal.rejected"
SIGNAL_ALL: Final = "pipeline.signal.*"
"""Both outcomes of the signal step of executions that are no backtest's: generated and rejected (a backtest's
signals travel on :func:`of_backtests` subjects, one token longer, which this does not match)."""
STEP_FAILED: Final = "pipeline.step.failed"
OUTCOME_RECORDED: Final = "pipeline.outcome.recorded"
"""A signal's outcome (traded, shadow or manual): a step of the signal's execution, after it ended."""
LLM_BUDGET_CROSSED: Final = "pipeline.llm.budget_crossed"
"""The day's model spend reached 50, 80 or 100 % of the LLM budget (a step of the execution that crossed it)."""

_BACKTESTS_SUFFIX: Final = "backtest"


def of_backtests(subject: str) -> str:
    """Where a backtest's execution publishes an event that executions which are no backtest's publish on ``subject``.

    One token more (``pipeline.signal.generated.backtest``), so a consumer of the live subject
    (``pipeline.signal.generated``, ``pipeline.signal.*``) is never delivered a backtest's event, and
    ``pipeline.>`` (the lineage, the stream) still takes both. Of a ``*`` wildcard, the wildcard of the backtests'
    subjects (``pipeline.signal.*.backtest``).
    """
    return f"{subject}.{_BACKTESTS_SUFFIX}"


MARKET_DATA_FETCHED_BACKTEST: Final = of_backtests(MARKET_DATA_FETCHED)
SIGNAL_GENERATED_BACKTEST: Final = of_backtests(SIGNAL_GENERATED)
SIGNAL_REJECTED_BACKTEST: Final = of_backtests(SIGNAL_REJECTED)
BACKTEST_SIGNAL_ALL: Final = of_backtests(SIGNAL_ALL)
"""Both outcomes of the signal step of backtests' executions: what the backtester follows."""


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
    LlmBudgetCrossed: LLM_BUDGET_CROSSED,
    OutcomeRecorded: OUTCOME_RECORDED,
}

_KEPT_APART_FOR_BACKTESTS: Final[frozenset[type[Envelope]]] = frozenset({BarsFetched, SignalGenerated, SignalRejected})
"""Events a backtest's execution publishes on subjects of their own (:func:`of_backtests`): those that consumers of
executions which are no backtest's subscribe to, the broker (its marks and paper fills follow the bars, its orders the
signals), the signals ledger and the notifier (the signals). Each would otherwise be delivered to them, validated and
dropped. The step that consumes such an event takes both of its subjects (:func:`consumed_by`); the backtester
follows the backtests' signals only."""

_EVENT_OF_SUBJECT: Final = {subject: event for event, subject in _SUBJECT_OF_EVENT.items()} | {
    of_backtests(_SUBJECT_OF_EVENT[event]): event for event in _KEPT_APART_FOR_BACKTESTS
}

_STEP_OF_LIVE_SUBJECT: Final = {
    EXECUTION_REQUESTED: Step.REQUESTED,
    MARKET_DATA_FETCHED: Step.MARKET_DATA,
    INDICATORS_COMPUTED: Step.INDICATORS,
    CHART_RENDERED: Step.CHART,
    ANALYSIS_COMPLETED: Step.ANALYSIS,
    SIGNAL_GENERATED: Step.SIGNAL,
    SIGNAL_REJECTED: Step.SIGNAL,
}


def _is_kept_apart(subject: str) -> bool:
    """Whether a backtest's execution publishes the event ``subject`` carries on its :func:`of_backtests` subject."""
    return _EVENT_OF_SUBJECT.get(subject) in _KEPT_APART_FOR_BACKTESTS


_STEP_OF_SUBJECT: Final = _STEP_OF_LIVE_SUBJECT | {
    of_backtests(subject): step for subject, step in _STEP_OF_LIVE_SUBJECT.items() if _is_kept_apart(subject)
}

_CONSUMED_BY_STEP: Final = {
    Step.MARKET_DATA: EXECUTION_REQUESTED,
    Step.INDICATORS: MARKET_DATA_FETCHED,
    Step.CHART: INDICATORS_COMPUTED,
    Step.ANALYSIS: CHART_RENDERED,
    Step.SIGNAL: ANALYSIS_COMPLETED,
}


def subject_for(event: Envelope) -> str:
    """The subject an event is published on (a backtest's bars and signals on their :func:`of_backtests` subjects)."""
    subject = _SUBJECT_OF_EVENT[type(event)]
    if event.backtest is not None and type(event) in _KEPT_APART_FOR_BACKTESTS:
        return of_backtests(subject)
    return subject


def event_type_for(subject: str) -> type[Envelope] | None:
    """The contract a subject carries, or None for a subject tradelane does not know."""
    return _EVENT_OF_SUBJECT.get(subject)


def step_of(subject: str) -> Step | None:
    """The step whose output a subject carries (None for step.failed and unknown subjects)."""
    return _STEP_OF_SUBJECT.get(subject)


def consumed_by(step: Step) -> tuple[str, ...]:
    """The subjects a pipeline step consumes: the previous step's output, and, where a backtest's has a subject of its
    own, that one too (the indicators: ``pipeline.market_data.fetched`` and ``pipeline.market_data.fetched.backtest``).
    """
    subject = _CONSUMED_BY_STEP[step]
    return (subject, of_backtests(subject)) if _is_kept_apart(subject) else (subject,)


def produced_by(step: Step) -> tuple[str, ...]:
    """The subjects a pipeline step publishes its output on, those of backtests' executions included (market-data
    has two; the signal step four: generated and rejected, each for executions that are no backtest's and for
    backtests')."""
    return tuple(subject for subject, producer in _STEP_OF_SUBJECT.items() if producer == step)


_STREAM_OF_ROOT: Final = {"pipeline": PIPELINE_STREAM, "trading": TRADING_STREAM, "deadletter": DEAD_LETTER_STREAM}


def stream_of(subject: str) -> str | None:
    """The stream that stores messages of ``subject`` (or of a wildcard such as ``trading.>``).

    None for subjects no stream stores: request/reply (``tradelane.*``), ``debug.>`` and ``logs.>``.
    """
    return _STREAM_OF_ROOT.get(subject.split(".", maxsplit=1)[0])


def dead_letter(subject: str) -> str:
    """Where a message of ``subject`` goes when its step gives up on it."""
    return f"deadletter.{subject}"


def is_dead_letter(subject: str) -> bool:
    """Whether ``subject`` is a dead letter's: a copy of a message its step gave up on."""
    return stream_of(subject) == DEAD_LETTER_STREAM


def original_of(subject: str) -> str:
    """The subject a dead letter's message had before its step gave up on it; any other subject as it is."""
    return subject.removeprefix(dead_letter(""))


def matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: ``*`` stands for one token, a final ``>`` for one or more."""
    wanted, found = pattern.split("."), subject.split(".")
    for index, part in enumerate(wanted):
        if part == ">":
            return len(found) > index
        if index >= len(found) or part not in ("*", found[index]):
            return False
    return len(wanted) == len(found)


# Structured log lines: core NATS, never stored (a listener sees what is logged while it listens).
LOGS_ALL: Final = "logs.>"
_LOGS_ROOT: Final = "logs"


def logs_of(service: str) -> str:
    """Where one service's processes publish their structured log lines (one JSON object each)."""
    return f"{_LOGS_ROOT}.{service}"


def service_of_log(subject: str) -> str | None:
    """The service whose log lines ``subject`` carries, or None for a subject that carries no log lines."""
    root, _, service = subject.partition(".")
    return service if root == _LOGS_ROOT and service and "." not in service else None


# Operations (core NATS request/reply, not stored in a stream)
HEALTH: Final = "tradelane.health"
"""Every service process answers a request here with a HealthReport (gather all replies)."""


def health_of(service: str) -> str:
    """Where one service's processes answer health requests."""
    return f"{HEALTH}.{service}"


# Symbol service and IB status: core NATS request/reply (no stream), answered by market-data.
SYMBOLS_SEARCH: Final = "tradelane.symbols.search"
SYMBOLS_DETAILS: Final = "tradelane.symbols.details"
SYMBOLS_BATCH_CACHE: Final = "tradelane.symbols.batch_cache"
SYMBOLS_REFRESH: Final = "tradelane.symbols.refresh"
SYMBOLS_CACHE_STATS: Final = "tradelane.symbols.cache_stats"
IB_STATUS: Final = "tradelane.ib.status"
MARKET_DATA_BARS: Final = "tradelane.market_data.bars"
"""Bars of an instrument between two times (BarsRequest -> BarsReply): how the ledger sees what followed a signal."""
MARKET_DATA_RESOLVE: Final = "tradelane.market_data.resolve"
"""A strategy's symbol resolved by the provider (ResolveRequest -> ResolveReply): the backtester's first question."""
SYMBOL_SERVICE_QUEUE: Final = "market-data"
"""Queue group of the request/reply subscribers, so one market-data replica answers each request."""

# The notifier's settings: core NATS request/reply (no stream).
NOTIFIER_SETTINGS: Final = "tradelane.notifier.settings"
"""The notifier answers a request here with its NotificationSettings (secrets masked), for the system page."""
NOTIFIER_SERVICE_QUEUE: Final = "notifier"
"""Queue group of the notifier's request/reply subscriber, so one replica answers each request."""


# Backtests: core NATS request/reply (no stream), answered by the backtester.
BACKTEST_CREATE: Final = "tradelane.backtest.create"
"""Plan, estimate and (unless only an estimate is asked) start a backtest (BacktestRequest -> BacktestReply)."""
BACKTEST_CONTROL: Final = "tradelane.backtest.control"
"""Stop or resume a backtest (BacktestControl -> BacktestReply)."""
BACKTEST_SERVICE_QUEUE: Final = "backtester"
"""Queue group of the backtester's request/reply subscribers, so one replica answers each request."""


# Trading: the broker's events (TRADING stream, ``trading.>``) and its commands (core NATS request/reply).
ORDER_ALL: Final = "trading.order.>"
"""Every order event (submitted, accepted, filled in part or whole, cancelled, rejected)."""
ORDER_SUBMITTED: Final = "trading.order.submitted"
ORDER_ACCEPTED: Final = "trading.order.accepted"
ORDER_PARTIALLY_FILLED: Final = "trading.order.partially_filled"
ORDER_FILLED: Final = "trading.order.filled"
ORDER_CANCELLED: Final = "trading.order.cancelled"
ORDER_REJECTED: Final = "trading.order.rejected"
POSITION_CHANGED: Final = "trading.position.changed"
SIGNAL_SKIPPED: Final = "trading.signal.skipped"
"""A signal that asked to trade placed no order (a replay, a redrive, a strategy no longer trading)."""
TRADING_STATE_CHANGED: Final = "trading.risk.state_changed"
"""The trading state changed (halted, reducing, resumed): by the broker itself or by a person through the gateway."""

BROKER_PLACE_ORDER: Final = "tradelane.broker.orders.place"
"""The gateway asks the broker to place a manual order here (reply: OrderPlaced)."""
BROKER_CANCEL_ORDER: Final = "tradelane.broker.orders.cancel"
"""The gateway asks the broker to cancel an order here (reply: CancelReply)."""
BROKER_SERVICE_QUEUE: Final = "broker"
"""Queue group of the broker's request/reply subscribers, so one replica answers each command."""

_TRADING_STEP_OF_SUBJECT: Final = {
    ORDER_SUBMITTED: "order_submitted",
    ORDER_ACCEPTED: "order_accepted",
    ORDER_PARTIALLY_FILLED: "order_partially_filled",
    ORDER_FILLED: "order_filled",
    ORDER_CANCELLED: "order_cancelled",
    ORDER_REJECTED: "order_rejected",
    POSITION_CHANGED: "position_changed",
    SIGNAL_SKIPPED: "signal_skipped",
    TRADING_STATE_CHANGED: "trading_state_changed",
}
_SUBJECT_OF_TRADING_EVENT: Final[dict[type[Envelope], str]] = {
    OrderSubmitted: ORDER_SUBMITTED,
    OrderAccepted: ORDER_ACCEPTED,
    OrderPartiallyFilled: ORDER_PARTIALLY_FILLED,
    OrderFilled: ORDER_FILLED,
    OrderCancelled: ORDER_CANCELLED,
    OrderRejected: ORDER_REJECTED,
    PositionChanged: POSITION_CHANGED,
    SignalSkipped: SIGNAL_SKIPPED,
    TradingStateChanged: TRADING_STATE_CHANGED,
}
_SUBJECT_OF_EVENT.update(_SUBJECT_OF_TRADING_EVENT)
_EVENT_OF_SUBJECT.update({subject: event for event, subject in _SUBJECT_OF_TRADING_EVENT.items()})


def trading_step_of(subject: str) -> str | None:
    """The lineage step name of a trading event (``order_filled``...), None for other subjects."""
    return _TRADING_STEP_OF_SUBJECT.get(subject)
