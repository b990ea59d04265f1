"""Step 5's choice of analyst, and how model failures become decisions (never a trade)."""

from __future__ import annotations

import pytest

from llm_analyst_tests.fake_llm import FakeLlmServer, answer, failure
from llm_analyst_tests.support import MakeAnalyst, MakeChart, MakeStrategy, Reply
from tradelane.llm_analyst import offline
from tradelane.llm_analyst.analyst import LlmAnalyst
from tradelane.llm_analyst.handlers import Analyst
from tradelane.runtime.errors import PermanentStepError, TransientStepError
from tradelane.runtime.settings import Settings


def _analyst(llm: LlmAnalyst | None) -> Analyst:
    return Analyst(llm, retry_rules=Settings().retry_rules)


async def test_without_an_endpoint_auto_strategies_get_the_offline_analysis(make_chart: MakeChart) -> None:
    chart = await make_chart()
    completed = await _analyst(None).on_chart_rendered(chart)
    assert completed.analysis == offline.analyse(chart.snapshot)
    assert (completed.charts, completed.llm_calls) == ((), ())


async def test_an_offline_strategy_uses_the_rules_even_with_a_model(
    make_analyst: MakeAnalyst, make_chart: MakeChart, make_strategy: MakeStrategy, fake_llm: FakeLlmServer
) -> None:
    chart = await make_chart(make_strategy(analyst="offline"))
    completed = await _analyst(make_analyst()).on_chart_rendered(chart)
    assert completed.analysis.model == offline.MODEL
    assert fake_llm.requests == []


async def test_an_auto_strategy_uses_the_model_when_one_is_configured(
    make_analyst: MakeAnalyst, make_chart: MakeChart, fake_llm: FakeLlmServer, valid_reply: Reply, model: str
) -> None:
    fake_llm.script(answer(valid_reply()))
    chart = await make_chart()
    completed = await _analyst(make_analyst()).on_chart_rendered(chart)
    assert completed.analysis.model == model
    assert completed.charts == (chart.png,)
    assert len(completed.llm_calls) == 1
    assert completed.causation_id == chart.message_id


async def test_an_llm_strategy_without_an_endpoint_fails_the_step_saying_what_to_set(
    make_chart: MakeChart, make_strategy: MakeStrategy
) -> None:
    with pytest.raises(PermanentStepError, match="TRADELANE_LLM_BASE_URL"):
        await _analyst(None).on_chart_rendered(await make_chart(make_strategy(analyst="llm")))


async def test_an_llm_strategy_without_an_endpoint_holds_when_it_asks_to(
    make_chart: MakeChart, make_strategy: MakeStrategy
) -> None:
    chart = await make_chart(make_strategy(analyst="llm", on_failure="hold"))
    analysis = (await _analyst(None).on_chart_rendered(chart)).analysis
    assert (analysis.bias, analysis.confidence, analysis.key_factors[0]) == ("neutral", 0, "analysis_unavailable")


async def test_an_invalid_answer_fails_the_step_with_the_reply(
    make_analyst: MakeAnalyst, make_chart: MakeChart, fake_llm: FakeLlmServer
) -> None:
    fake_llm.script(answer("BUY BUY BUY"), answer("definitely BUY"))
    with pytest.raises(PermanentStepError, match="last reply: definitely BUY"):
        await _analyst(make_analyst()).on_chart_rendered(await make_chart())


async def test_an_invalid_answer_with_hold_is_neutral_with_zero_confidence_and_the_calls_kept(
    make_analyst: MakeAnalyst, make_chart: MakeChart, make_strategy: MakeStrategy, fake_llm: FakeLlmServer
) -> None:
    fake_llm.script(answer("BUY BUY BUY"), answer("definitely BUY"))
    chart = await make_chart(make_strategy(on_failure="hold"))
    completed = await _analyst(make_analyst()).on_chart_rendered(chart)
    analysis = completed.analysis
    assert (analysis.bias, analysis.confidence) == ("neutral", 0)
    assert analysis.key_factors[0] == "analysis_unavailable"
    assert (analysis.suggested_entry, analysis.suggested_stop, analysis.suggested_targets) == (None, None, ())
    assert completed.llm_calls[0].replies == ("BUY BUY BUY", "definitely BUY")


async def test_an_unavailable_model_naks_the_message_with_the_servers_delay(
    make_analyst: MakeAnalyst, make_chart: MakeChart, fake_llm: FakeLlmServer
) -> None:
    fake_llm.script(failure(503, "overloaded", {"Retry-After": "30"}))
    with pytest.raises(TransientStepError, match="HTTP 503") as caught:
        await _analyst(make_analyst(retry_budget=1)).on_chart_rendered(await make_chart())
    assert caught.value.retry_after == 30


async def test_an_unavailable_model_with_hold_is_still_retried_before_the_last_delivery(
    make_analyst: MakeAnalyst, make_chart: MakeChart, make_strategy: MakeStrategy, fake_llm: FakeLlmServer
) -> None:
    fake_llm.script(failure(503, "overloaded", {"Retry-After": "30"}))
    chart = await make_chart(make_strategy(on_failure="hold"))
    with pytest.raises(TransientStepError):
        await _analyst(make_analyst(retry_budget=1)).on_chart_rendered(chart)
