"""Validation before save: syntax, undefined variables and a trial render, each with its line."""

from __future__ import annotations

from tradelane.prompts.defaults import default_templates
from tradelane.prompts.rendering import MAX_TEMPLATE_CHARS
from tradelane.prompts.validation import validate, variables_used


def test_every_built_in_template_is_valid() -> None:
    assert {item.name: validate(item.text, item.type, item.language) for item in default_templates()} == {
        item.name: [] for item in default_templates()
    }


def test_a_syntax_error_is_reported_with_its_line() -> None:
    problems = validate("Analyse {{ symbol }}\n{% for bar in bars %}\n{{ bar.close }")
    assert [(problem.kind, problem.line) for problem in problems] == [("syntax", 3)]


def test_an_undefined_variable_is_reported_with_its_name_and_first_line() -> None:
    problems = validate("{{ symbol }}\n{{ simbol }}\n{{ simbol }} {{ price_now }}")
    assert [(problem.kind, problem.name, problem.line) for problem in problems] == [
        ("undefined_variable", "simbol", 2),
        ("undefined_variable", "price_now", 3),
    ]
    assert "undefined variable 'simbol'" in str(problems[0])


def test_variables_set_by_the_template_are_not_undefined() -> None:
    text = (
        "{% set level = latest_price * 1.02 %}"
        "{% for bar in bars %}{{ loop.index }}{{ bar.close }}{% endfor %}{{ level }}"
    )
    assert validate(text) == []


def test_jinja_globals_are_not_undefined() -> None:
    assert validate("{% for i in range(3) %}{{ i }}{% endfor %}{% set ns = namespace(n=0) %}") == []


def test_a_misspelt_attribute_is_found_by_the_trial_render() -> None:
    problems = validate("{{ symbol }}\n{{ bar_summary.chnage }}")
    assert [(problem.kind, problem.line) for problem in problems] == [("render", 2)]


def test_an_indicator_the_sample_lacks_is_not_a_problem() -> None:
    assert validate("EMA 9: {{ indicators.ema_9 | number }}") == []


def test_consolidation_templates_are_rendered_with_sample_analyses() -> None:
    assert validate("{% for item in analyses %}{{ item.timeframe }} {{ item.bias }}{% endfor %}", "consolidation") == []


def test_an_empty_template_is_refused() -> None:
    assert [problem.kind for problem in validate("  \n")] == ["empty"]


def test_an_overlong_template_is_refused() -> None:
    assert [problem.kind for problem in validate("x" * (MAX_TEMPLATE_CHARS + 1))] == ["too_long"]


def test_variables_used_lists_the_catalogue_variables_read() -> None:
    assert variables_used("{% set x = 1 %}{{ symbol }} {{ indicators.rsi_14 }} {{ x }} {{ unknown }}") == [
        "indicators",
        "symbol",
    ]
