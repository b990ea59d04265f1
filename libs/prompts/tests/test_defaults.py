"""The built-in templates: one per type and language, each rendering to a usable prompt."""

from __future__ import annotations

from tradelane.prompts.answer import answer_schema_text
from tradelane.prompts.context import sample_context
from tradelane.prompts.defaults import default_template, default_templates
from tradelane.prompts.rendering import render


def test_there_is_a_template_per_type_and_language() -> None:
    assert sorted(item.name for item in default_templates()) == [
        "builtin-analysis-en",
        "builtin-analysis-zh",
        "builtin-consolidation-en",
        "builtin-consolidation-zh",
        "builtin-system-en",
        "builtin-system-zh",
    ]


def test_the_system_message_carries_the_answer_schema() -> None:
    rendered = render(default_template("system", "en").text, sample_context())
    assert answer_schema_text() in rendered


def test_the_analysis_prompt_states_the_numbers() -> None:
    rendered = render(default_template("analysis", "en").text, sample_context())
    assert "Latest price: 222.37 USD" in rendered
    assert "- rsi_14: 61.7000 (previous 58.2000)" in rendered
    assert "CDLENGULFING" in rendered


def test_the_chinese_analysis_prompt_is_in_chinese() -> None:
    rendered = render(default_template("analysis", "zh").text, sample_context(language="zh"))
    assert "最新价：222.37 USD" in rendered  # noqa: RUF001 - Chinese punctuation


def test_the_consolidation_prompt_lists_each_timeframe() -> None:
    rendered = render(default_template("consolidation", "en").text, sample_context("consolidation"))
    assert "## 1 day" in rendered
    assert "## 1 week" in rendered


def test_an_extra_timeframe_prompt_names_its_own_chart_and_the_strategys_bar_size() -> None:
    context = sample_context() | {"is_base_timeframe": False, "timeframe": "1 week"}
    rendered = render(default_template("analysis", "en").text, context)
    assert "The attached chart shows 1 week bars" in rendered
    assert "The strategy trades on 1 day bars; this 1 week view is one of the timeframes (1 day, 1 week)" in rendered


def test_the_base_timeframe_prompt_does_not_call_itself_an_extra_view() -> None:
    rendered = render(default_template("analysis", "en").text, sample_context())
    assert "The attached chart shows 1 day bars" in rendered
    assert "The strategy trades on" not in rendered
