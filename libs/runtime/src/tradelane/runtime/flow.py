"""Who speaks on which subject: the flow of tradelane as one table.

Each participant of the bus (a service by its ``tradelane run`` name, the gateway, the
operator CLI) has a :class:`Role`: what it consumes, what it publishes, which requests it
answers and which it sends. A service declares a FastStream publisher for every subject it
publishes (see :class:`~tradelane.runtime.bus.EventBus`), and the AsyncAPI document of the
whole flow (:mod:`tradelane.runtime.asyncapi`) is built from this same table, so the gateway
can serve it without importing any service.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from tradelane.contracts import subjects
from tradelane.contracts.subjects import Step
from tradelane.runtime.streams import (
    ADVISORY_CONSUMER,
    BACKTESTER_CONSUMERS,
    BROKER_CONSUMER,
    LEDGER_CONSUMERS,
    LINEAGE_CONSUMERS,
    NOTIFIER_CONSUMERS,
    STEP_CONSUMERS,
    ConsumerSpec,
)

SYMBOL_REQUESTS: Final = (
    subjects.SYMBOLS_SEARCH,
    subjects.SYMBOLS_DETAILS,
    subjects.SYMBOLS_BATCH_CACHE,
    subjects.SYMBOLS_REFRESH,
    subjects.SYMBOLS_CACHE_STATS,
    subjects.IB_STATUS,
)
"""Core NATS requests market-data answers: the symbol service and IB status."""
HISTORY_REQUESTS: Final = (subjects.MARKET_DATA_BARS, subjects.MARKET_DATA_RESOLVE)
"""Core NATS requests market-data answers for the signals ledger and the backtester: bars between two times, and an
instrument resolved."""
BACKTEST_REQUESTS: Final = (subjects.BACKTEST_CREATE, subjects.BACKTEST_CONTROL)
"""Core NATS requests the backtester answers (from the gateway and the CLI): start a backtest, stop or resume one."""
BROKER_COMMANDS: Final = (subjects.BROKER_PLACE_ORDER, subjects.BROKER_CANCEL_ORDER)
"""Core NATS requests the broker answers: manual orders and cancels."""
TRADING_EVENTS: Final = (
    subjects.ORDER_SUBMITTED,
    subjects.ORDER_ACCEPTED,
    subjects.ORDER_PARTIALLY_FILLED,
    subjects.ORDER_FILLED,
    subjects.ORDER_CANCELLED,
    subjects.ORDER_REJECTED,
    subjects.POSITION_CHANGED,
    subjects.SIGNAL_SKIPPED,
    subjects.TRADING_STATE_CHANGED,
)
"""Everything the broker publishes on the TRADING stream."""


@dataclass(frozen=True)
class Role:
    """What one participant does on the bus.

    ``consumes``: subjects (or wildcards) it subscribes to; ``publishes``: subjects it publishes
    events on (wildcards where it republishes stored messages: replays, redrives, dead letters);
    ``answers``: core NATS requests it replies to; ``requests``: requests it sends.
    """

    consumes: tuple[str, ...] = ()
    publishes: tuple[str, ...] = ()
    answers: tuple[str, ...] = ()
    requests: tuple[str, ...] = ()


def _service(
    name: str, *, consumes: tuple[str, ...] = (), publishes: tuple[str, ...] = (), answers: tuple[str, ...] = ()
) -> Role:
    """A bus service: answers health requests, reports a step it gives up on and dead-letters its input."""
    stored = tuple(subject for subject in consumes if subjects.stream_of(subject) is not None)
    return Role(
        consumes=consumes,
        publishes=(*publishes, subjects.STEP_FAILED, *(subjects.dead_letter(subject) for subject in stored)),
        answers=(*answers, subjects.HEALTH, subjects.health_of(name)),
    )


def _filters(*specs: ConsumerSpec) -> tuple[str, ...]:
    """The subjects ``specs`` take, in order."""
    return tuple(subject for spec in specs for subject in spec.filter_subjects)


def _step(name: str, step: Step, *, answers: tuple[str, ...] = (), also_publishes: tuple[str, ...] = ()) -> Role:
    """A pipeline step: consumes its subjects, publishes its output (and ``also_publishes``, events beside it)."""
    return _service(
        name,
        consumes=_filters(STEP_CONSUMERS[step]),
        publishes=(*subjects.produced_by(step), *also_publishes),
        answers=answers,
    )


_REPUBLISHED: Final = (subjects.PIPELINE_ALL, subjects.TRADING_ALL)
"""Replays and redrives publish stored messages again on their original subjects."""

FLOW: Final[Mapping[str, Role]] = {
    "scheduler": _service("scheduler", publishes=(subjects.EXECUTION_REQUESTED,)),
    "market-data": _step("market-data", Step.MARKET_DATA, answers=(*SYMBOL_REQUESTS, *HISTORY_REQUESTS)),
    "indicators": _step("indicators", Step.INDICATORS),
    "charts": _step("charts", Step.CHART),
    "llm-analyst": _step("llm-analyst", Step.ANALYSIS, also_publishes=(subjects.LLM_BUDGET_CROSSED,)),
    "signals": _step("signals", Step.SIGNAL),
    "broker": _service(
        "broker",
        # the bars of executions that are no backtest's (a backtest's travel on a subject of their own)
        consumes=(*_filters(BROKER_CONSUMER), subjects.MARKET_DATA_FETCHED),
        publishes=TRADING_EVENTS,
        answers=BROKER_COMMANDS,
    ),
    "lineage": Role(
        consumes=_filters(*LINEAGE_CONSUMERS, ADVISORY_CONSUMER),
        publishes=(subjects.STEP_FAILED, *(subjects.dead_letter(subject) for subject in _REPUBLISHED)),
        answers=(subjects.HEALTH, subjects.health_of("lineage")),
    ),
    # The notifier reports no StepFailed of its own: a notification it could not send is no failed execution.
    "notifier": Role(
        consumes=_filters(*NOTIFIER_CONSUMERS),
        publishes=tuple(subjects.dead_letter(subject) for subject in _filters(*NOTIFIER_CONSUMERS)),
        answers=(subjects.HEALTH, subjects.health_of("notifier"), subjects.NOTIFIER_SETTINGS),
    ),
    # The ledger reports no StepFailed either: a signal it could not record is no failed execution.
    "ledger": Role(
        consumes=_filters(*LEDGER_CONSUMERS),
        publishes=(
            subjects.OUTCOME_RECORDED,
            *(subjects.dead_letter(subject) for subject in _filters(*LEDGER_CONSUMERS)),
        ),
        answers=(subjects.HEALTH, subjects.health_of("ledger")),
        requests=HISTORY_REQUESTS,
    ),
    # The backtester publishes its decisions as executions and follows them; like the ledger it reports no StepFailed.
    "backtester": Role(
        consumes=_filters(*BACKTESTER_CONSUMERS),
        publishes=(
            subjects.EXECUTION_REQUESTED,
            *(subjects.dead_letter(subject) for subject in _filters(*BACKTESTER_CONSUMERS)),
        ),
        answers=(subjects.HEALTH, subjects.health_of("backtester"), *BACKTEST_REQUESTS),
        requests=HISTORY_REQUESTS,
    ),
    "gateway": Role(
        # the web UI's live log listens to the bus (core NATS, read-only) while a browser is open: the
        # events, and the log lines every service publishes on its own logs.<service> (tradelane.runtime.log_stream)
        consumes=(*_REPUBLISHED, subjects.DEAD_LETTER_ALL, subjects.LOGS_ALL),
        publishes=(
            subjects.EXECUTION_REQUESTED,
            subjects.TRADING_STATE_CHANGED,
            subjects.OUTCOME_RECORDED,
            *_REPUBLISHED,
        ),
        requests=(
            *SYMBOL_REQUESTS,
            *BROKER_COMMANDS,
            *BACKTEST_REQUESTS,
            subjects.NOTIFIER_SETTINGS,
            subjects.HEALTH,
        ),
    ),
    "operator": Role(
        consumes=(*_REPUBLISHED, subjects.DEAD_LETTER_ALL, subjects.DEBUG_ALL),
        publishes=(subjects.EXECUTION_REQUESTED, *_REPUBLISHED, subjects.DEBUG_ALL),
        requests=(*BACKTEST_REQUESTS, subjects.HEALTH),
    ),
}
"""Every participant of the bus and its role (services by their ``tradelane run`` name; the CLI is ``operator``)."""


def role_of(participant: str) -> Role:
    """The role of ``participant``; an unknown one (a test's service) has none declared."""
    return FLOW.get(participant, Role())


def is_concrete(subject: str) -> bool:
    """A subject one can publish on (no ``*`` or ``>`` wildcard)."""
    return not ({"*", ">"} & set(subject.split(".")))
