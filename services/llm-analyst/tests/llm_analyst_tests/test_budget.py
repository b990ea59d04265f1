"""The daily LLM budget: crossings of 50, 80 and 100 % told once a day, and no model asked once it is spent
(a cached answer costs nothing, so it is still given).

With the test price table a default reply (1,200 tokens in, 300 out) costs 0.0048, so against a
budget of 0.01 the second call crosses 50 and 80 % and the third 100 %.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from llm_analyst_tests.fake_llm import FakeLlmServer, answer
from llm_analyst_tests.support import MakeAnalyst, MakeChart, MakeStrategy, Reply
from tradelane.contracts.events import AnalysisCompleted
from tradelane.contracts.llm_budget import LlmBudgetCrossed, budget_crossing_id
from tradelane.contracts.strategy import StrategyDefinition
from tradelane.llm_analyst import offline
from tradelane.llm_analyst.budget import DailyBudget, thresholds_reached
from tradelane.llm_analyst.handlers import Analyst
from tradelane.runtime.errors import PermanentStepError
from tradelane.runtime.settings import Settings
from tradelane.store.llm import LlmRepository

BUDGET = Decimal("0.01")


class Told(list[LlmBudgetCrossed]):
    """The crossings a budget published, in order."""

    async def publish(self, event: LlmBudgetCrossed) -> None:
        self.append(event)


@pytest.fixture
def told() -> Told:
    return Told()


@pytest.fixture
def budget(calls: LlmRepository, told: Told) -> DailyBudget:
    return DailyBudget(BUDGET, calls, told.publish)


async def _spend_three_calls(
    analyst: Analyst, make_chart: MakeChart, fake_llm: FakeLlmServer, valid_reply: Reply
) -> None:
    fake_llm.script(*(answer(valid_reply()) for _ in range(3)))
    for _ in range(3):
        await analyst.on_chart_rendered(await make_chart())


def test_thresholds_are_reached_at_their_percentage_of_the_budget() -> None:
    assert thresholds_reached(Decimal("4.99"), Decimal(10)) == ()
    assert thresholds_reached(Decimal(5), Decimal(10)) == (50,)
    assert thresholds_reached(Decimal("9.99"), Decimal(10)) == (50, 80)
    assert thresholds_reached(Decimal(12), Decimal(10)) == (50, 80, 100)


async def test_each_threshold_is_told_once_as_a_step_of_the_execution_that_crossed_it(
    make_analyst: MakeAnalyst,
    make_chart: MakeChart,
    fake_llm: FakeLlmServer,
    valid_reply: Reply,
    budget: DailyBudget,
    told: Told,
    model: str,
) -> None:
    analyst = Analyst(make_analyst(budget=budget), retry_rules=Settings().retry_rules)
    fake_llm.script(*(answer(valid_reply()) for _ in range(3)))
    first = await analyst.on_chart_rendered(await make_chart())
    assert told == []
    second_chart = await make_chart()
    await analyst.on_chart_rendered(second_chart)
    assert [(event.threshold_percent, event.spent) for event in told] == [
        (50, Decimal("0.0096")),
        (80, Decimal("0.0096")),
    ]
    await analyst.on_chart_rendered(await make_chart())
    fifty, _, hundred = told
    today = datetime.now(UTC).date()
    assert (hundred.threshold_percent, hundred.spent, hundred.budget, hundred.model) == (
        100,
        Decimal("0.0144"),
        BUDGET,
        model,
    )
    assert [event.message_id for event in told] == [budget_crossing_id(today, percent) for percent in (50, 80, 100)]
    assert (fifty.execution_id, fifty.causation_id) == (second_chart.execution_id, second_chart.message_id)
    assert first.llm_calls[0].cost == Decimal("0.0048")


async def test_a_second_replica_does_not_tell_a_threshold_again(
    make_analyst: MakeAnalyst,
    make_chart: MakeChart,
    fake_llm: FakeLlmServer,
    valid_reply: Reply,
    budget: DailyBudget,
    calls: LlmRepository,
    told: Told,
) -> None:
    await _spend_three_calls(
        Analyst(make_analyst(budget=budget), retry_rules=Settings().retry_rules), make_chart, fake_llm, valid_reply
    )
    other = Told()
    await DailyBudget(BUDGET, calls, other.publish).after_call(await make_chart(), "vision-test")
    assert (len(told), other) == (3, [])


async def test_once_spent_an_auto_strategy_gets_the_offline_rules_without_asking_the_model(
    make_analyst: MakeAnalyst, make_chart: MakeChart, fake_llm: FakeLlmServer, valid_reply: Reply, budget: DailyBudget
) -> None:
    analyst = Analyst(make_analyst(budget=budget), retry_rules=Settings().retry_rules)
    await _spend_three_calls(analyst, make_chart, fake_llm, valid_reply)
    chart = await make_chart()
    completed = await analyst.on_chart_rendered(chart)
    assert completed.analysis == offline.analyse(chart.snapshot)
    assert len(fake_llm.requests) == 3


async def test_once_spent_an_llm_strategy_fails_the_step_saying_the_budget_is_spent(
    make_analyst: MakeAnalyst,
    make_chart: MakeChart,
    make_strategy: MakeStrategy,
    fake_llm: FakeLlmServer,
    valid_reply: Reply,
    budget: DailyBudget,
) -> None:
    analyst = Analyst(make_analyst(budget=budget), retry_rules=Settings().retry_rules)
    await _spend_three_calls(analyst, make_chart, fake_llm, valid_reply)
    with pytest.raises(PermanentStepError, match=r"LLM budget of the day is spent \(0\.0144 of 0\.01 USD"):
        await analyst.on_chart_rendered(await make_chart(make_strategy(analyst="llm")))
    held = await analyst.on_chart_rendered(await make_chart(make_strategy(analyst="llm", on_failure="hold")))
    assert (held.analysis.bias, held.analysis.confidence, held.analysis.key_factors[0]) == (
        "neutral",
        0,
        "analysis_unavailable",
    )
    assert len(fake_llm.requests) == 3


async def _spend_after_caching(
    analyst: Analyst, make_chart: MakeChart, make_strategy: MakeStrategy, fake_llm: FakeLlmServer, valid_reply: Reply
) -> tuple[StrategyDefinition, AnalysisCompleted]:
    """A cached 'llm' strategy's first answer, then two other calls that spend the budget; both returned."""
    cached = make_strategy(analyst="llm", cache=True)
    fake_llm.script(answer(valid_reply(confidence=71)), *(answer(valid_reply()) for _ in range(2)))
    first = await analyst.on_chart_rendered(await make_chart(cached))
    for _ in range(2):
        await analyst.on_chart_rendered(await make_chart(make_strategy(temperature=0.5)))
    return cached, first


async def test_once_spent_an_analysis_whose_answers_are_all_cached_is_still_answered_from_the_cache(
    make_analyst: MakeAnalyst,
    make_chart: MakeChart,
    make_strategy: MakeStrategy,
    fake_llm: FakeLlmServer,
    valid_reply: Reply,
    budget: DailyBudget,
) -> None:
    analyst = Analyst(make_analyst(budget=budget), retry_rules=Settings().retry_rules)
    cached, first = await _spend_after_caching(analyst, make_chart, make_strategy, fake_llm, valid_reply)
    assert await budget.exhausted() is not None
    rerun = await analyst.on_chart_rendered(await make_chart(cached))
    assert (rerun.analysis, rerun.analysis.confidence) == (first.analysis, 71)
    assert [(call.cached, call.cost) for call in rerun.llm_calls] == [(True, Decimal(0))]
    assert len(fake_llm.requests) == 3


async def test_once_spent_a_cached_strategy_that_misses_the_cache_fails_saying_the_budget_is_spent(
    make_analyst: MakeAnalyst,
    make_chart: MakeChart,
    make_strategy: MakeStrategy,
    fake_llm: FakeLlmServer,
    valid_reply: Reply,
    budget: DailyBudget,
) -> None:
    analyst = Analyst(make_analyst(budget=budget), retry_rules=Settings().retry_rules)
    await _spend_after_caching(analyst, make_chart, make_strategy, fake_llm, valid_reply)
    missed = make_strategy(analyst="llm", cache=True, temperature=0.9)
    with pytest.raises(PermanentStepError, match=r"LLM budget of the day is spent \(0\.0144 of 0\.01 USD"):
        await analyst.on_chart_rendered(await make_chart(missed))
    assert len(fake_llm.requests) == 3


async def test_the_next_utc_day_starts_with_the_whole_budget(
    make_analyst: MakeAnalyst,
    make_chart: MakeChart,
    fake_llm: FakeLlmServer,
    valid_reply: Reply,
    budget: DailyBudget,
    calls: LlmRepository,
) -> None:
    await _spend_three_calls(
        Analyst(make_analyst(budget=budget), retry_rules=Settings().retry_rules), make_chart, fake_llm, valid_reply
    )
    tomorrow = DailyBudget(BUDGET, calls, Told().publish, clock=lambda: datetime.now(UTC) + timedelta(days=1))
    assert await budget.exhausted() is not None
    assert await tomorrow.exhausted() is None
