"""A backtest's variants and its decisions as executions: names, definitions, fingerprints and ids (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final
from uuid import uuid4

from tradelane.backtester.variants import (
    OFFLINE_BASELINE,
    Variant,
    decision_request,
    execution_id,
    first_variant,
    in_asked_order,
    requested_overrides,
    variant_definition,
)
from tradelane.contracts.backtest import BacktestRequest, VariantOverrides
from tradelane.contracts.envelope import BacktestTag
from tradelane.contracts.events import Trigger
from tradelane.contracts.strategy import AnalysisSettings, StrategyDefinition, SymbolRef

START: Final = datetime(2025, 3, 3, tzinfo=UTC)
STRATEGY: Final = StrategyDefinition(name="s", symbol=SymbolRef(symbol="AAPL"))


def _request(*variants: VariantOverrides) -> BacktestRequest:
    return BacktestRequest(strategy_id=uuid4(), start=START, end=START + timedelta(days=5), variants=variants)


def test_the_strategy_runs_beside_the_offline_baseline() -> None:
    assert [name for name, _ in requested_overrides(_request(), STRATEGY, llm_configured=True)] == ["base", "offline"]


def test_without_a_model_an_auto_strategy_is_the_rules_and_needs_no_baseline_beside_it() -> None:
    assert [name for name, _ in requested_overrides(_request(), STRATEGY, llm_configured=False)] == ["base"]


def test_two_variants_are_compared_beside_the_offline_baseline() -> None:
    asked = (VariantOverrides(prompt_version=2), VariantOverrides(prompt_version=3))
    names = [name for name, _ in requested_overrides(_request(*asked), STRATEGY, llm_configured=True)]
    assert names == ["prompt_version=2", "prompt_version=3", "offline"]


def test_no_baseline_is_added_when_a_variant_is_offline_already() -> None:
    offline = STRATEGY.model_copy(update={"analysis": AnalysisSettings(analyst="offline")})
    assert [name for name, _ in requested_overrides(_request(), offline, llm_configured=True)] == ["base"]
    asked = (VariantOverrides(analyst="llm"), VariantOverrides(analyst="offline"))
    named = requested_overrides(_request(*asked), STRATEGY, llm_configured=True)
    assert [name for name, _ in named] == ["analyst=llm", "analyst=offline"]


def test_the_first_variant_is_the_first_asked_for_or_the_strategy_as_stored() -> None:
    assert first_variant(_request()) == "base"
    asked = (VariantOverrides(model="gpt-4o"), VariantOverrides(model="o3"))
    assert first_variant(_request(*asked)) == "model=gpt-4o"


def test_stored_variants_are_put_back_in_the_order_asked_with_the_offline_baseline_last() -> None:
    """As jsonb returns them, shortest name first, the plan's order comes back from the request."""
    asked = _request(VariantOverrides(model="gpt-4o"), VariantOverrides(model="o3"))
    assert in_asked_order(asked, ["offline", "model=o3", "model=gpt-4o"]) == ["model=gpt-4o", "model=o3", "offline"]
    assert in_asked_order(_request(), ["offline", "base"]) == ["base", "offline"]


def test_a_variant_runs_its_overrides_with_a_named_model_a_pinned_prompt_and_cached_answers() -> None:
    template = uuid4()
    definition = variant_definition(
        STRATEGY, VariantOverrides(analyst="llm"), model="gpt-4o", template=(template, 3), asks_model=True
    )
    analysis = definition.analysis
    assert (analysis.analyst, analysis.model, analysis.prompt_template_id, analysis.prompt_version) == (
        "llm",
        "gpt-4o",
        template,
        3,
    )
    assert analysis.cache
    assert definition.model_copy(update={"analysis": STRATEGY.analysis}) == STRATEGY


def test_a_variant_that_asks_a_model_runs_analyst_llm_not_auto() -> None:
    """An 'auto' strategy's model variant does not fall back to the offline rules when the model cannot be asked."""
    assert STRATEGY.analysis.analyst == "auto"
    definition = variant_definition(
        STRATEGY, VariantOverrides(prompt_version=2), model="gpt-4o", template=(uuid4(), 2), asks_model=True
    )
    assert (definition.analysis.analyst, definition.render_png) == ("llm", True)


def test_a_variant_read_by_the_rules_keeps_its_analyst() -> None:
    """Without an LLM endpoint an 'auto' strategy is the rules, as its name says; the baseline is 'offline'."""
    definition = variant_definition(STRATEGY, VariantOverrides(), model=None, template=None, asks_model=False)
    assert definition.analysis.analyst == "auto"


def test_a_variant_read_by_the_rules_renders_no_png() -> None:
    definition = variant_definition(STRATEGY, OFFLINE_BASELINE, model=None, template=None, asks_model=False)
    assert (definition.analysis.analyst, definition.render_png, definition.analysis.cache) == ("offline", False, True)


def test_a_fingerprint_changes_with_the_definition_and_the_time_and_with_nothing_else() -> None:
    base = Variant("base", STRATEGY, asks_model=True)
    again = Variant("renamed", STRATEGY.model_copy(), asks_model=True)
    other = Variant("base", STRATEGY.model_copy(update={"chart_bars": 100}), asks_model=True)
    times = [START, START + timedelta(days=1)]
    assert base.fingerprints(times) == again.fingerprints(times)
    assert len(set(base.fingerprints(times))) == 2
    assert set(base.fingerprints(times)).isdisjoint(other.fingerprints(times))


def test_a_decision_is_the_same_execution_and_message_on_every_publish() -> None:
    """Publishing a decision again after a crash is dropped by JetStream: same message id."""
    backtest_id, strategy_id = uuid4(), uuid4()
    first = decision_request(backtest_id, strategy_id, "base", 7, START, STRATEGY)
    again = decision_request(backtest_id, strategy_id, "base", 7, START, STRATEGY)
    assert (first.message_id, first.execution_id) == (again.message_id, again.execution_id)
    assert first.execution_id == execution_id(backtest_id, "base", 7)
    assert first.execution_id != execution_id(backtest_id, "offline", 7)
    assert (first.trigger, first.as_of, first.strategy_id) == (Trigger.BACKTEST, START, strategy_id)
    assert first.backtest == BacktestTag(backtest_id=backtest_id, variant="base", seq=7, decided_at=START)
