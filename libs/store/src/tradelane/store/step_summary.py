"""A step's message in brief: what the execution detail shows, and what the lineage keeps once it prunes the message.

One function for both, so a step reads the same before and after pruning. It keeps enough to
follow a run (the signal's action and prices, the analysis' confidence, a failure's error)
without the bars, series and prompts.
"""

from __future__ import annotations

from typing import Any

Scalar = str | int | float | bool | None

_ENVELOPE_FIELDS = frozenset(
    {"message_id", "execution_id", "strategy_id", "occurred_at", "schema_version", "replay_of", "causation_id"}
)
SUMMARY_FIELDS = 24
"""At most this many fields, besides the signal's own (:data:`SIGNAL_FIELDS`)."""
SUMMARY_TEXT = 200
SIGNAL_FIELDS = frozenset(
    f"{holder}.{name}"
    for holder in ("signal", "candidate")
    for name in ("action", "confidence", "entry", "stop", "targets", "risk_reward")
)
"""What a signal (or a rejected candidate) was, kept whatever the cap: a person looking back asks this first.
Its targets are listed (comma separated), not counted."""


def _brief(value: Any) -> Scalar:
    if isinstance(value, list):
        return f"[{len(value)} items]"
    if isinstance(value, dict):
        return f"{{{len(value)} fields}}"
    if isinstance(value, str) and len(value) > SUMMARY_TEXT:
        return value[: SUMMARY_TEXT - 1] + "…"
    brief: Scalar = value
    return brief


def _signal_value(value: Any) -> Scalar:
    if isinstance(value, list) and all(isinstance(item, str | int | float) for item in value):
        return ", ".join(str(item) for item in value)
    return _brief(value)


def summarize(payload: dict[str, Any]) -> dict[str, Scalar]:
    """A step message's fields, and those of the objects it holds, each in brief (lists as their length).

    At most :data:`SUMMARY_FIELDS` of them, in the message's order, plus the signal's
    :data:`SIGNAL_FIELDS` wherever they come.
    """
    summary: dict[str, Scalar] = {}
    for key, value in payload.items():
        if key in _ENVELOPE_FIELDS:
            continue
        nested = value.items() if isinstance(value, dict) and value else [("", value)]
        for sub, item in nested:
            name = f"{key}.{sub}" if sub else key
            summary[name] = _signal_value(item) if name in SIGNAL_FIELDS else _brief(item)
    return {
        name: value
        for index, (name, value) in enumerate(summary.items())
        if index < SUMMARY_FIELDS or name in SIGNAL_FIELDS
    }
