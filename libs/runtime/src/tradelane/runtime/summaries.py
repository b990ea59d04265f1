"""One line per bus message, decoded through the contracts (pure): what `tradelane tail` and the live log show."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from uuid import UUID

from pydantic import ValidationError

from tradelane.contracts import subjects
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
from tradelane.runtime.decisions import ERROR_HEADER, STEP_HEADER

_MAX_TEXT = 160


def short_id(value: UUID | str | None) -> str:
    """The first eight characters of an id, enough to tell executions apart on screen."""
    return "-" if value is None else str(value)[:8]


def clip(text: str | None, width: int) -> str:
    """``text`` on one line, cut to ``width`` characters with an ellipsis."""
    if not text:
        return "-"
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


@dataclass(frozen=True)
class Described:
    """A message as ``tail`` and the live log show it."""

    execution_id: str | None
    replay_of: str | None
    summary: str


def describe(subject: str, data: bytes, headers: Mapping[str, str] | None = None) -> Described:
    """Decode ``data`` with the contract of ``subject`` (of the original subject, for a dead letter)."""
    original = subjects.original_of(subject)
    contract = subjects.event_type_for(original) or Envelope
    try:
        event = contract.model_validate_json(data)
    except ValidationError as error:
        return Described(None, None, f"not a valid {contract.__name__}: {clip(str(error), _MAX_TEXT)}")
    summary = summarize(event)
    if subject != original:
        found = headers or {}
        summary = f"DEAD LETTER from {found.get(STEP_HEADER, '?')}: {clip(found.get(ERROR_HEADER), _MAX_TEXT)}"
    replay_of = str(event.replay_of) if event.replay_of else None
    return Described(str(event.execution_id), replay_of, summary)


def summarize(event: Envelope) -> str:  # noqa: PLR0911 - one return per event type
    """What a person wants to know about one event, in a few words."""
    match event:
        case ExecutionRequested():
            return (
                f"{event.strategy.name} ({event.strategy.symbol.symbol} {event.strategy.bar_size.value}) "
                f"{event.trigger.value}, data up to {event.as_of.isoformat()}"
            )
        case BarsFetched():
            return f"{event.symbol.symbol}@{event.symbol.exchange}: {event.bars.count} bars from {event.provider}"
        case IndicatorsComputed():
            patterns = len(event.patterns)
            series = len(event.snapshot.latest)
            return f"{series} series, {patterns} patterns, last close {event.snapshot.last_close:g}"
        case ChartRendered():
            png = f", PNG {short_id(event.png.name)}" if event.png else ""
            return f"figure {short_id(event.figure.name)}{png}"
        case AnalysisCompleted():
            analysis = event.analysis
            return f"{analysis.bias} {analysis.trend}, confidence {analysis.confidence} ({analysis.model})"
        case SignalGenerated():
            signal = event.signal
            prices = f" entry {signal.entry} stop {signal.stop}" if signal.entry is not None else ""
            return f"{signal.action.value} {signal.symbol.symbol}{prices}, confidence {signal.confidence}"
        case SignalRejected():
            return f"rejected by {event.rule}: {clip(event.reason, _MAX_TEXT)}"
        case StepFailed():
            return f"{event.step} failed ({event.kind}, {event.deliveries} deliveries): {clip(event.error, _MAX_TEXT)}"
        case _:
            return type(event).__name__
