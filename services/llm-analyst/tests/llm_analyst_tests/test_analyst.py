"""The vision analyst end to end: fake model server, chart PNGs in NATS, templates and records in PostgreSQL."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest

from llm_analyst_tests.fake_llm import FakeLlmServer, answer, failure
from llm_analyst_tests.support import MakeAnalyst, MakeChart, MakeStrategy, Reply, timeframe_png
from tradelane.contracts.envelope import BacktestTag
from tradelane.contracts.strategy import BarSize
from tradelane.llm_analyst.analyst import AnalysisFailedError, AnalysisInterruptedError, cache_key
from tradelane.store.llm import LlmRepository
from tradelane.store.prompts import PromptFields, PromptRepository


async def test_a_valid_answer_becomes_the_analysis(
    make_analyst: MakeAnalyst, make_chart: MakeChart, fake_llm: FakeLlmServer, valid_reply: Reply, model: str
) -> None:
    fake_llm.script(answer(valid_reply()))
    outcome = await make_analyst().analyse(await make_chart())
    assert (outcome.analysis.bias, outcome.analysis.confidence, outcome.analysis.model) == ("bullish", 72, model)
    assert outcome.analysis.suggested_targets == (112.5,)


async def test_the_call_is_recorded_in_full_for_the_lineage(
    make_analyst: MakeAnalyst, make_chart: MakeChart, fake_llm: FakeLlmServer, valid_reply: Reply, png: bytes
) -> None:
    fake_llm.script(answer(valid_reply(), tokens_in=1000, tokens_out=250))
    chart = await make_chart()
    outcome = await make_analyst().analyse(chart)
    [call] = outcome.calls
    assert (call.purpose, call.timeframe.value, call.provider, call.model) == (
        "analysis",
        "1 day",
        "127.0.0.1",
        "vision-test",
    )
    assert [template.name for template in call.templates] == ["builtin-system-en", "builtin-analysis-en"]
    assert call.images == (hashlib.sha256(png).hexdigest(),)
    assert "Analyse AAPL" in call.prompt
    assert '"additionalProperties": false' in call.system_prompt
    assert call.replies == (valid_reply(),)
    assert (call.tokens_in, call.tokens_out, call.cost) == (1000, 250, Decimal("0.004"))
    assert call.parsed == outcome.analysis
    assert call.response_format == "json_schema"
    assert outcome.charts == (chart.png,)


async def test_every_call_is_recorded_with_its_cost(
    make_analyst: MakeAnalyst, make_chart: MakeChart, fake_llm: FakeLlmServer, valid_reply: Reply, calls: LlmRepository
) -> None:
    fake_llm.script(answer(valid_reply()))
    chart = await make_chart()
    await make_analyst().analyse(chart)
    [row] = await calls.calls(execution_id=chart.execution_id)
    assert (row.status, row.strategy_id, row.tokens_in, row.tokens_out) == ("succeeded", chart.strategy_id, 1200, 300)
    assert row.cost == Decimal("0.0048")
    assert row.record["replies"] == [valid_reply()]


async def test_an_invalid_answer_gets_one_repair_quoting_the_error(
    make_analyst: MakeAnalyst, make_chart: MakeChart, fake_llm: FakeLlmServer, valid_reply: Reply
) -> None:
    fake_llm.script(answer(valid_reply(confidence=150)), answer(valid_reply(confidence=66)))
    outcome = await make_analyst().analyse(await make_chart())
    assert outcome.analysis.confidence == 66
    repair = fake_llm.requests[1]["messages"]
    assert repair[-2] == {"role": "assistant", "content": valid_reply(confidence=150)}
    assert "confidence: Input should be less than or equal to 100 (got 150)" in repair[-1]["content"]
    [call] = outcome.calls
    assert len(call.replies) == len(call.validation_errors) + 1 == 2
    assert (call.tokens_in, call.tokens_out) == (2400, 600)


async def test_an_answer_still_invalid_after_the_repair_fails_with_the_replies_kept(
    make_analyst: MakeAnalyst,
    make_chart: MakeChart,
    fake_llm: FakeLlmServer,
    valid_reply: Reply,
    calls: LlmRepository,
) -> None:
    fake_llm.script(answer("It looks bullish to me."), answer(valid_reply(bias="up")))
    chart = await make_chart()
    with pytest.raises(AnalysisFailedError) as caught:
        await make_analyst().analyse(chart)
    message = str(caught.value)
    assert "not a valid answer after one repair attempt" in message
    assert "bias: Input should be 'bullish', 'bearish' or 'neutral'" in message
    assert '"bias": "up"' in message
    [call] = caught.value.calls
    assert call.replies == ("It looks bullish to me.", valid_reply(bias="up"))
    assert call.parsed is None
    [row] = await calls.calls(execution_id=chart.execution_id)
    assert row.status == "invalid"
    assert "bias" in (row.error or "")


async def test_the_cache_answers_a_rerun_when_the_strategy_asks(
    make_analyst: MakeAnalyst,
    make_chart: MakeChart,
    make_strategy: MakeStrategy,
    fake_llm: FakeLlmServer,
    valid_reply: Reply,
) -> None:
    fake_llm.script(answer(valid_reply()))
    definition = make_strategy(cache=True)
    first = await make_analyst().analyse(await make_chart(definition))
    rerun = await make_analyst().analyse(await make_chart(definition))
    assert len(fake_llm.requests) == 1
    assert rerun.analysis == first.analysis
    [call] = rerun.calls
    assert (call.cached, call.cost, call.tokens_in, call.response_format) == (True, Decimal(0), 0, None)
    assert call.cache_key == first.calls[0].cache_key


async def test_without_the_cache_a_rerun_asks_again(
    make_analyst: MakeAnalyst, make_chart: MakeChart, fake_llm: FakeLlmServer, valid_reply: Reply
) -> None:
    fake_llm.script(answer(valid_reply()), answer(valid_reply(confidence=40)))
    await make_analyst().analyse(await make_chart())
    rerun = await make_analyst().analyse(await make_chart())
    assert len(fake_llm.requests) == 2
    assert rerun.analysis.confidence == 40


async def test_a_redelivery_reuses_the_answers_its_execution_already_got(
    make_analyst: MakeAnalyst, make_chart: MakeChart, fake_llm: FakeLlmServer, valid_reply: Reply
) -> None:
    fake_llm.script(answer(valid_reply()))
    chart = await make_chart()
    await make_analyst().analyse(chart)
    again = await make_analyst().analyse(chart)
    assert len(fake_llm.requests) == 1
    assert again.calls[0].cached is True


async def test_each_extra_timeframe_is_analysed_with_its_own_chart_then_consolidated(
    make_analyst: MakeAnalyst,
    make_chart: MakeChart,
    make_strategy: MakeStrategy,
    fake_llm: FakeLlmServer,
    valid_reply: Reply,
    png: bytes,
) -> None:
    fake_llm.script(
        answer(valid_reply()), answer(valid_reply(bias="neutral", confidence=50)), answer(valid_reply(confidence=61))
    )
    chart = await make_chart(make_strategy(timeframes=["1 week"]))
    outcome = await make_analyst().analyse(chart)
    _daily, weekly, consolidation = fake_llm.requests
    weekly_text, weekly_image = weekly["messages"][1]["content"]
    assert "on the 1 week timeframe" in weekly_text["text"]
    assert "The attached chart shows 1 week bars" in weekly_text["text"]
    assert weekly_text["text"].count("\n2025-") == 5
    weekly_png = timeframe_png(BarSize.WEEK_1)
    assert weekly_image["image_url"]["url"] == f"data:image/png;base64,{base64.b64encode(weekly_png).decode()}"
    assert "## 1 day" in consolidation["messages"][1]["content"]
    assert "## 1 week" in consolidation["messages"][1]["content"]
    assert [(call.purpose, call.timeframe.value) for call in outcome.calls] == [
        ("analysis", "1 day"),
        ("analysis", "1 week"),
        ("consolidation", "1 day"),
    ]
    assert [call.images for call in outcome.calls] == [(_sha256(png),), (_sha256(weekly_png),), ()]
    assert outcome.charts == (chart.png, chart.timeframes[0].png)
    assert outcome.analysis.confidence == 61


async def test_a_timeframe_finer_than_the_bar_size_is_analysed_too(
    make_analyst: MakeAnalyst,
    make_chart: MakeChart,
    make_strategy: MakeStrategy,
    fake_llm: FakeLlmServer,
    valid_reply: Reply,
) -> None:
    fake_llm.script(*(answer(valid_reply()) for _ in range(3)))
    outcome = await make_analyst().analyse(await make_chart(make_strategy(timeframes=["1 hour"])))
    assert [call.timeframe.value for call in outcome.calls] == ["1 day", "1 hour", "1 day"]


async def test_a_chart_message_without_the_asked_timeframe_charts_fails_naming_them(
    make_analyst: MakeAnalyst, make_chart: MakeChart, make_strategy: MakeStrategy, fake_llm: FakeLlmServer
) -> None:
    chart = await make_chart(make_strategy(timeframes=["1 week", "1 month"]), timeframe_charts=False)
    with pytest.raises(AnalysisFailedError, match="no chart of the 1 week, 1 month timeframe"):
        await make_analyst().analyse(chart)
    assert fake_llm.requests == []


async def test_a_pinned_template_version_is_the_one_rendered(
    make_analyst: MakeAnalyst,
    make_chart: MakeChart,
    make_strategy: MakeStrategy,
    fake_llm: FakeLlmServer,
    valid_reply: Reply,
    prompts: PromptRepository,
) -> None:
    created = await prompts.create(PromptFields(name="mine", type="analysis"), "first take on {{ symbol }}")
    await prompts.update(created.id, created.fields, "second take on {{ symbol }}")
    fake_llm.script(answer(valid_reply()))
    chart = await make_chart(make_strategy(prompt_template_id=created.id, prompt_version=1))
    [call] = (await make_analyst().analyse(chart)).calls
    assert call.prompt == "first take on AAPL"
    assert (call.templates[1].template_id, call.templates[1].version) == (created.id, 1)


async def test_without_a_pin_the_latest_version_is_rendered(
    make_analyst: MakeAnalyst,
    make_chart: MakeChart,
    make_strategy: MakeStrategy,
    fake_llm: FakeLlmServer,
    valid_reply: Reply,
    prompts: PromptRepository,
) -> None:
    created = await prompts.create(PromptFields(name="mine", type="analysis"), "first take on {{ symbol }}")
    await prompts.update(created.id, created.fields, "second take on {{ symbol }}")
    fake_llm.script(answer(valid_reply()))
    [call] = (await make_analyst().analyse(await make_chart(make_strategy(prompt_template_id=created.id)))).calls
    assert (call.prompt, call.templates[1].version) == ("second take on AAPL", 2)


async def test_a_stored_default_system_template_replaces_the_built_in_one(
    make_analyst: MakeAnalyst,
    make_chart: MakeChart,
    fake_llm: FakeLlmServer,
    valid_reply: Reply,
    prompts: PromptRepository,
) -> None:
    await prompts.create(PromptFields(name="terse", type="system", is_default=True), "Be terse. {{ answer_schema }}")
    fake_llm.script(answer(valid_reply()))
    [call] = (await make_analyst().analyse(await make_chart())).calls
    assert call.system_prompt.startswith("Be terse. {")
    assert call.templates[0].name == "terse"


async def test_a_chinese_strategy_gets_the_chinese_templates(
    make_analyst: MakeAnalyst,
    make_chart: MakeChart,
    make_strategy: MakeStrategy,
    fake_llm: FakeLlmServer,
    valid_reply: Reply,
) -> None:
    fake_llm.script(answer(valid_reply()))
    [call] = (await make_analyst().analyse(await make_chart(make_strategy(language="zh")))).calls
    assert [template.name for template in call.templates] == ["builtin-system-zh", "builtin-analysis-zh"]
    assert "请分析 AAPL" in call.prompt


async def test_a_missing_template_fails_naming_the_setting(
    make_analyst: MakeAnalyst, make_chart: MakeChart, make_strategy: MakeStrategy
) -> None:
    with pytest.raises(AnalysisFailedError, match=r"analysis\.prompt_template_id"):
        await make_analyst().analyse(await make_chart(make_strategy(prompt_template_id=uuid4())))


async def test_a_template_that_does_not_render_fails_naming_its_line(
    make_analyst: MakeAnalyst, make_chart: MakeChart, make_strategy: MakeStrategy, prompts: PromptRepository
) -> None:
    created = await prompts.create(PromptFields(name="typo", type="analysis"), "{{ symbol }}\n{{ bar_summary.nope }}")
    with pytest.raises(AnalysisFailedError, match=r"'typo'.*line 2"):
        await make_analyst().analyse(await make_chart(make_strategy(prompt_template_id=created.id)))


async def test_without_a_png_the_prompt_goes_alone(
    make_analyst: MakeAnalyst, make_chart: MakeChart, fake_llm: FakeLlmServer, valid_reply: Reply
) -> None:
    fake_llm.script(answer(valid_reply()))
    outcome = await make_analyst().analyse(await make_chart(png=False))
    assert isinstance(fake_llm.requests[0]["messages"][1]["content"], str)
    assert (outcome.calls[0].images, outcome.charts) == ((), ())


async def test_the_strategy_model_and_parameters_override_the_defaults(
    make_analyst: MakeAnalyst,
    make_chart: MakeChart,
    make_strategy: MakeStrategy,
    fake_llm: FakeLlmServer,
    valid_reply: Reply,
) -> None:
    fake_llm.script(answer(valid_reply()))
    chart = await make_chart(make_strategy(model="other-model", temperature=0.7, max_tokens=500))
    outcome = await make_analyst().analyse(chart)
    request: dict[str, Any] = fake_llm.requests[0]
    assert (request["model"], request["temperature"], request["max_tokens"]) == ("other-model", 0.7, 500)
    assert (outcome.analysis.model, outcome.calls[0].cost) == ("other-model", None)


async def test_an_unavailable_model_interrupts_with_the_servers_delay(
    make_analyst: MakeAnalyst, make_chart: MakeChart, fake_llm: FakeLlmServer, calls: LlmRepository
) -> None:
    fake_llm.script(failure(429, "rate limited", {"Retry-After": "60"}))
    chart = await make_chart()
    with pytest.raises(AnalysisInterruptedError) as caught:
        await make_analyst(retry_budget=1).analyse(chart)
    assert caught.value.retry_after == 60
    [row] = await calls.calls(execution_id=chart.execution_id)
    assert row.status == "failed"
    assert "HTTP 429" in (row.error or "")


def test_the_cache_key_changes_with_the_images_and_parameters() -> None:
    key = cache_key("m", "sys", "prompt", ["a" * 64], 0.2, 2000)
    assert key == cache_key("m", "sys", "prompt", ["a" * 64], 0.2, 2000)
    assert key != cache_key("m", "sys", "prompt", ["b" * 64], 0.2, 2000)
    assert key != cache_key("m", "sys", "prompt", ["a" * 64], 0.3, 2000)
    assert key != cache_key("m2", "sys", "prompt", ["a" * 64], 0.2, 2000)
    assert key != cache_key("m", "sys", "other prompt", ["a" * 64], 0.2, 2000)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def test_a_template_beyond_the_render_limits_fails_naming_the_limit(
    make_analyst: MakeAnalyst, make_chart: MakeChart, make_strategy: MakeStrategy, prompts: PromptRepository
) -> None:
    """A stored template that would compute a number of ten billion digits fails at once, not after hours."""
    text = "{{ symbol }}\n{{ 10 ** (10 ** 10) }}"
    created = await prompts.create(PromptFields(name="hostile", type="analysis"), text)
    with pytest.raises(AnalysisFailedError, match=r"'hostile'.*line 2: 10 \*\* 10000000000 is too large a number"):
        await make_analyst().analyse(await make_chart(make_strategy(prompt_template_id=created.id)))


async def test_a_backtest_decision_reads_its_own_point_in_time_as_today(
    make_analyst: MakeAnalyst,
    make_chart: MakeChart,
    make_strategy: MakeStrategy,
    fake_llm: FakeLlmServer,
    valid_reply: Reply,
    prompts: PromptRepository,
) -> None:
    """A prompt that names the date must not tell the model it decides in the future of its bars."""
    created = await prompts.create(PromptFields(name="dated", type="analysis"), "{{ symbol }} on {{ today }}")
    fake_llm.script(answer(valid_reply()))
    chart = await make_chart(make_strategy(prompt_template_id=created.id))
    decided_at = datetime(2024, 2, 29, 21, 0, tzinfo=UTC)
    tagged = chart.model_copy(
        update={"backtest": BacktestTag(backtest_id=uuid4(), variant="base", seq=3, decided_at=decided_at)}
    )
    [call] = (await make_analyst().analyse(tagged)).calls
    assert call.prompt == "AAPL on 2024-02-29"
