"""A backtest's variants and its decisions as executions: names, definitions, fingerprints, ids (pure).

Every variant runs the stored strategy with its overrides on the same decision times. The
definition a variant's decisions carry is complete: the model is named (the strategy's, the
variant's, or the configured default) and a stored prompt template is pinned to the version that
was current when the backtest was planned, so a rerun asks the same questions, and the llm-analyst's
response cache (``analysis.cache``, always on in a backtest) answers them without asking the model.
A variant that asks a model runs analyst ``llm``, never ``auto``: when the model cannot be asked
(the day's LLM budget spent and the answer not cached), its decision fails, or holds, saying why,
instead of reading the offline rules under the model's name.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final
from uuid import UUID, uuid5

from tradelane.contracts.backtest import OFFLINE_VARIANT, BacktestRequest, VariantOverrides
from tradelane.contracts.envelope import BacktestTag
from tradelane.contracts.events import ExecutionRequested, Trigger
from tradelane.contracts.strategy import AnalysisSettings, StrategyDefinition

MAX_VARIANT_NAME: Final = 80
"""The longest variant name a BacktestTag carries."""
OFFLINE_BASELINE: Final = VariantOverrides(analyst="offline")
"""The baseline every backtest runs beside the strategy, unless one of its variants is offline already."""


@dataclass(frozen=True)
class Variant:
    """One variant as its decisions run it."""

    name: str
    strategy: StrategyDefinition
    asks_model: bool
    """Whether its analysis asks a model (analyst 'llm', or 'auto' with an LLM endpoint configured)."""

    def fingerprints(self, times: Iterable[datetime]) -> list[str]:
        """The fingerprint of its decision at each of ``times``: same definition and time, same answers."""
        material = hashlib.sha256(canonical_json(self.strategy).encode())
        found = []
        for decided_at in times:
            one = material.copy()
            one.update(f"\n{decided_at.isoformat()}".encode())
            found.append(one.hexdigest())
        return found


def requested_overrides(
    request: BacktestRequest, stored: StrategyDefinition, *, llm_configured: bool
) -> list[tuple[str, VariantOverrides]]:
    """The variants a request asks for, by name, and the offline baseline unless one of them is read by the rules
    already (analyst 'offline', or 'auto' with no LLM endpoint configured: the same decisions twice otherwise)."""
    named = asked_variants(request)
    if all(asks_model(analyst_of(overrides, stored), llm_configured=llm_configured) for _, overrides in named):
        named.append((OFFLINE_VARIANT, OFFLINE_BASELINE))
    return named


def asked_variants(request: BacktestRequest) -> list[tuple[str, VariantOverrides]]:
    """The variants a request asks for, by name, in its order: the strategy as stored ('base') when it names none."""
    return [(overrides.label(), overrides) for overrides in request.variants or (VariantOverrides(),)]


def first_variant(request: BacktestRequest) -> str:
    """The name of the variant a request asks for first. Variants differ in their analysis only, so its definition
    gives what they share: the symbol, the bars and the risk."""
    return asked_variants(request)[0][0]


def in_asked_order(request: BacktestRequest, names: Iterable[str]) -> list[str]:
    """A backtest's variant ``names`` (as stored, in any order: PostgreSQL's jsonb keeps no key order) in the order
    ``request`` asks for them, the offline baseline after them, as they were planned."""
    asked = {name: index for index, (name, _) in enumerate(asked_variants(request))}
    return sorted(names, key=lambda name: asked.get(name, len(asked)))


def analyst_of(overrides: VariantOverrides, stored: StrategyDefinition) -> str:
    """The analyst a variant runs: its own, else the strategy's."""
    return overrides.analyst or stored.analysis.analyst


def asks_model(analyst: str, *, llm_configured: bool) -> bool:
    """Whether a variant with ``analyst`` asks a model, as the llm-analyst decides it."""
    return analyst == "llm" or (analyst == "auto" and llm_configured)


def variant_definition(
    stored: StrategyDefinition,
    overrides: VariantOverrides,
    *,
    model: str | None,
    template: tuple[UUID, int] | None,
    asks_model: bool,
) -> StrategyDefinition:
    """``stored`` with the variant's analyst, ``model`` and pinned prompt ``template`` (id, version), cached answers.

    ``template`` None keeps the strategy's own prompt settings (a built-in prompt, or an offline variant). A
    variant that ``asks_model`` runs analyst 'llm', so a model that cannot be asked fails its decisions rather
    than the offline rules answering for it ('auto' would fall back to them). One that does not keeps its analyst
    and renders no PNG (the offline rules read the numbers): nobody would look at it, and a PNG is most of a
    decision's time (the interactive figure is still drawn).
    """
    analyst = "llm" if asks_model else analyst_of(overrides, stored)
    changes: dict[str, object] = {"cache": True, "analyst": analyst}
    if model is not None:
        changes["model"] = model
    if template is not None:
        changes["prompt_template_id"], changes["prompt_version"] = template
    analysis = AnalysisSettings.model_validate({**stored.analysis.model_dump(), **changes})
    update: dict[str, object] = {"analysis": analysis}
    if not asks_model:
        update["render_png"] = False
    return stored.model_copy(update=update)


def canonical_json(strategy: StrategyDefinition) -> str:
    """The definition as JSON with sorted keys: equal definitions, equal text."""
    return json.dumps(strategy.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))


def execution_id(backtest_id: UUID, variant: str, seq: int) -> UUID:
    """The execution of one decision: the same on every attempt to publish it."""
    return uuid5(backtest_id, f"{variant}:{seq}")


def decision_request(
    backtest_id: UUID,
    strategy_id: UUID,
    variant: str,
    seq: int,
    decided_at: datetime,
    strategy: StrategyDefinition,
) -> ExecutionRequested:
    """The execution request of one decision; its message id is derived, so publishing it again is dropped."""
    execution = execution_id(backtest_id, variant, seq)
    return ExecutionRequested(
        message_id=uuid5(execution, ExecutionRequested.__name__),
        execution_id=execution,
        strategy_id=strategy_id,
        strategy=strategy,
        trigger=Trigger.BACKTEST,
        as_of=decided_at,
        backtest=BacktestTag(backtest_id=backtest_id, variant=variant, seq=seq, decided_at=decided_at),
    )


def names_of(variants: Sequence[Variant]) -> tuple[str, ...]:
    return tuple(variant.name for variant in variants)
