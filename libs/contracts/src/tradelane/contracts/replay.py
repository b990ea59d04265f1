"""What a replay changes in the message it republishes, and what a replay must never do.

A replay takes one recorded message and publishes it again, on the same subject, as the first
message of a **new execution**: a new ``execution_id`` and ``message_id``, ``replay_of`` set to
the execution it came from, no ``causation_id`` (nothing in the new execution caused it), and
``occurred_at`` set to now. Everything else, including fields this version of the contracts does
not know, is kept as it was, so the consuming service reads exactly what it read the first time
(an ``ExecutionRequested`` keeps its ``as_of``, so the same bars are fetched). Because every id
downstream is derived from the replayed message's new id, the replay's events are never
de-duplicated against the original's.

Replays never trade live. Every message of a replayed execution carries ``replay_of`` (``follow``
copies it), and a broker must check it: a signal whose ``replay_of`` is set may become a paper
order at most, and only when the replay asked for one (``ReplayOverrides.place_orders``, carried
as ``replay_places_orders`` on every message of the replay); never a live order. The flag is set
on every replay, false unless asked, so replaying a replay never inherits it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from pydantic import Field

from tradelane.contracts import subjects
from tradelane.contracts.envelope import Contract
from tradelane.contracts.events import Trigger
from tradelane.contracts.fields import Text, Version
from tradelane.contracts.strategy import AnalysisSettings
from tradelane.contracts.subjects import Step


class NotReplayableError(ValueError):
    """The message cannot be replayed as asked (it is no tradelane event, or the overrides do not apply)."""


class ReplayOverrides(Contract):
    """Changes a replay makes to the strategy's analysis settings (``strategy.analysis``); None keeps the original."""

    prompt_version: Version | None = Field(default=None, description="Pin this prompt template version.")
    model: Text | None = Field(default=None, min_length=1, max_length=200, description="Analyse with this model.")
    cache: bool | None = Field(default=None, description="Reuse (true) or bypass (false) cached LLM answers.")
    place_orders: bool = Field(
        default=False,
        description="Let the replay's signal place orders (paper venue only). Off by default: a replay only "
        "shows what would have happened.",
    )

    @property
    def changes(self) -> dict[str, Any]:
        """The analysis settings this replay sets, by field name (``place_orders`` is no analysis setting)."""
        settings = self.model_dump(exclude={"place_orders"})
        return {name: value for name, value in settings.items() if value is not None}


def check_overrides(from_step: Step, overrides: ReplayOverrides) -> None:
    """Refuse overrides that could not change anything when replaying from ``from_step``.

    The analysis settings are read by the analysis step; a replay that starts after it (at the
    signal step) would carry them without effect, which would make its diff misleading.
    """
    if overrides.changes and list(Step).index(from_step) > list(Step).index(Step.ANALYSIS):
        names = ", ".join(sorted(overrides.changes))
        msg = (
            f"the analysis settings given ({names}) take effect only in the analysis step, which a replay "
            f"from {from_step.value!r} does not run; replay from {Step.ANALYSIS.value!r} or an earlier step"
        )
        raise NotReplayableError(msg)


def replay_payload(
    subject: str,
    payload: Mapping[str, Any],
    *,
    execution_id: UUID,
    replayed_at: datetime,
    overrides: ReplayOverrides | None = None,
) -> dict[str, Any]:
    """The JSON body that replays ``payload`` (a message of ``subject``) as the start of ``execution_id``.

    ``payload`` is the original body as JSON values; the result is too. Raises
    :class:`NotReplayableError` when it is no tradelane envelope, or when overrides are given for
    a message that carries no strategy.
    """
    original_execution = payload.get("execution_id")
    if not isinstance(original_execution, str) or "message_id" not in payload:
        msg = (
            f"the message on {subject} is not a tradelane event (it has no execution_id and message_id), "
            "so it cannot be replayed"
        )
        raise NotReplayableError(msg)
    replayed: dict[str, Any] = {
        **payload,
        "message_id": str(uuid4()),
        "execution_id": str(execution_id),
        "replay_of": original_execution,
        "causation_id": None,
        "occurred_at": replayed_at.isoformat(),
        "handled_in_ms": None,
        "replay_places_orders": overrides.place_orders if overrides is not None else False,
    }
    if subject == subjects.EXECUTION_REQUESTED:
        replayed["trigger"] = Trigger.REPLAY.value
    changes = overrides.changes if overrides is not None else {}
    if changes:
        strategy = payload.get("strategy")
        if not isinstance(strategy, Mapping):
            msg = f"the message on {subject} carries no strategy, so {', '.join(sorted(changes))} cannot be applied"
            raise NotReplayableError(msg)
        analysis = AnalysisSettings.model_validate({**strategy.get("analysis", {}), **changes})
        replayed["strategy"] = {**strategy, "analysis": analysis.model_dump(mode="json")}
    return replayed
