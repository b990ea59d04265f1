"""Render limits: hostile templates end quickly with an error naming the limit, and never hold the caller."""

from __future__ import annotations

import asyncio

import pytest

from tradelane.prompts.context import sample_context
from tradelane.prompts.isolation import worker_environment
from tradelane.prompts.limits import MAX_INT_BITS, Budget, RenderLimits
from tradelane.prompts.rendering import TemplateLimitError, TemplateRenderError, render, render_async
from tradelane.prompts.validation import NESTED_TOO_DEEPLY, validate, variables_used

SHORT = RenderLimits(timeout_seconds=0.5)
"""A short deadline keeps the tests that run into it quick."""

NESTED_LOOPS = "{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}"

pytestmark = pytest.mark.timeout(20)


def _refused(text: str, limits: RenderLimits = SHORT) -> TemplateLimitError:
    with pytest.raises(TemplateLimitError) as caught:
        render(text, sample_context(), limits)
    return caught.value


def test_a_huge_power_is_refused_before_it_is_computed() -> None:
    error = _refused("{{ 10 ** (10 ** 10) }}")
    assert "too large a number" in error.message
    assert error.line == 1


def test_a_huge_product_of_integers_is_refused() -> None:
    error = _refused("{% set n = 10 ** 1000 %}\n{{ n * n * n * n * n }}")
    assert f"over {MAX_INT_BITS} bits" in error.message
    assert error.line == 2


def test_string_repetition_beyond_the_output_limit_is_refused() -> None:
    error = _refused("{{ 'x' * 10 ** 10 }}")
    assert "would have 10000000000 items or characters; at most 262144" in error.message


def test_list_repetition_beyond_the_output_limit_is_refused() -> None:
    error = _refused("{{ ([1, 2] * 10 ** 9) | length }}")
    assert "would have 2000000000 items" in error.message


def test_doubling_a_string_in_a_loop_stops_at_the_output_limit() -> None:
    doubling = "{% set ns = namespace(s='xx') %}{% for i in range(100) %}{% set ns.s = ns.s + ns.s %}{% endfor %}"
    error = _refused(doubling)
    assert "the joined string or list would have" in error.message


def test_nested_loops_stop_at_the_deadline() -> None:
    error = _refused(NESTED_LOOPS)
    assert "took longer than 0.5 s (the render time limit)" in error.message


def test_a_range_larger_than_the_cap_is_refused() -> None:
    assert "at most 100000" in _refused("{% for i in range(10 ** 9) %}{% endfor %}").message


def test_recursion_through_a_macro_is_refused() -> None:
    error = _refused("{% macro again() %}{{ again() }}{% endmacro %}\n{{ again() }}")
    assert "recurses too deeply" in error.message


def test_a_macro_that_calls_itself_twice_stops_at_the_deadline() -> None:
    text = "{% macro tree(n) %}{% if n %}{{ tree(n - 1) }}{{ tree(n - 1) }}{% endif %}{% endmacro %}{{ tree(60) }}"
    assert "took longer than" in _refused(text).message


def test_output_beyond_the_limit_is_refused() -> None:
    error = _refused("{% for i in range(99999) %}{{ 'x' * 100 }}{% endfor %}")
    assert "longer than 262144 characters (the output limit)" in error.message


def test_the_output_limit_is_the_one_given() -> None:
    limits = RenderLimits(max_output_chars=10)
    assert render("{{ 'x' * 10 }}", {}, limits) == "x" * 10
    assert "longer than 10 characters" in _refused("{{ 'x' * 5 }}{{ 'x' * 6 }}", limits).message


def test_a_huge_percent_format_width_is_refused() -> None:
    assert "width or precision of 999999999 is too large" in _refused("{{ '%0999999999d' % 1 }}").message


def test_a_huge_number_of_decimals_in_a_filter_is_refused() -> None:
    with pytest.raises(TemplateRenderError, match="decimals is out of range"):
        render("{{ latest_price | number(10 ** 9) }}", sample_context(), SHORT)


def test_a_huge_allocation_the_sandbox_cannot_see_fails_within_the_memory_limit() -> None:
    """A filter's argument builds the string in C, past the sandbox's checks: the process memory cap stops it."""
    error = _refused("{{ 'x' | center(10 ** 9) }}")
    assert "more memory than the render memory limit" in error.message


def test_loops_over_lists_with_nothing_inside_stop_at_the_deadline() -> None:
    """A loop over a list runs no call or operator; each of its steps checks the deadline all the same."""
    loops = "".join("{% for x" + str(depth) + " in bars %}" for depth in range(8)) + "{% endfor %}" * 8
    error = _refused(loops)
    assert "took longer than 0.5 s (the render time limit)" in error.message
    assert error.line == 1


def test_loops_keep_their_loop_variables_tests_else_and_recursion() -> None:
    text = (
        "{% for b in bars[:3] %}{{ loop.index }}/{{ loop.length }}{{ '!' if loop.last }} {% endfor %}"
        "{% for x in [] %}{% else %}empty{% endfor %} "
        "{% for x in range(6) if x is odd %}{{ x }}{% endfor %} "
        "{% for x in [[1, [2]], [3]] recursive %}"
        "{% if x is iterable %}{{ loop(x) }}{% else %}{{ x }}{% endif %}"
        "{% endfor %}"
    )
    assert render(text, sample_context()) == "1/3 2/3 3/3! empty 135 123"


def test_output_that_is_not_valid_unicode_is_refused() -> None:
    with pytest.raises(TemplateRenderError, match=r"the template prints \\ud800, a lone surrogate"):
        render("ok\n{{ '\\ud800' }}", {})
    assert render("{{ 'é 価格' }}", {}) == "é 価格"


def test_ordinary_arithmetic_and_formatting_still_work() -> None:
    text = "{{ 2 ** 10 }} {{ '-' * 3 }} {{ '%.2f' % 1.234 }} {{ '%5s|%-3d|%%' % ('a', 7) }} {{ range(3) | list }}"
    assert render(text, {}) == "1024 --- 1.23     a|7  |% [0, 1, 2]"


def test_a_range_keeps_its_length_and_loop_variables() -> None:
    text = "{% for i in range(1, 7, 2) %}{{ i }}/{{ loop.length }} {% endfor %}{{ range(5)[-1] }} {{ 3 in range(5) }}"
    assert render(text, {}) == "1/3 3/3 5/3 4 True"


def test_a_slice_of_a_range_still_checks_the_deadline() -> None:
    text = "{% for i in range(99999)[1:] %}{% for j in range(99999)[::1] %}{% endfor %}{% endfor %}"
    assert "took longer than" in _refused(text).message
    assert render("{{ range(10)[2:8:2] | list }}", {}) == "[2, 4, 6]"


def test_the_render_process_does_not_inherit_the_services_settings() -> None:
    """A template that escaped the sandbox would find no database URL or API key in its process."""
    environ = {"PATH": "/usr/bin", "TRADELANE_LLM_API_KEY": "sk-planted", "TRADELANE_DATABASE_URL": "postgresql://x"}
    environment = worker_environment(environ)
    assert set(environment) == {"PATH", "PYTHONPATH"}
    assert "sk-planted" not in str(environment)


def test_validation_reports_a_limit_problem() -> None:
    [problem] = validate("{{ bars | length }}\n{{ 'x' * 10 ** 10 }}", limits=SHORT)
    assert (problem.kind, problem.line) == ("limit", 2)


async def test_an_async_render_leaves_the_event_loop_free() -> None:
    """While a slow template runs into its deadline, the loop keeps serving other work."""
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    ticker = asyncio.create_task(tick())
    try:
        with pytest.raises(TemplateLimitError, match="took longer than"):
            await render_async(NESTED_LOOPS, {}, SHORT)
    finally:
        ticker.cancel()
    assert ticks >= 10


def test_a_budget_counts_time_on_its_clock() -> None:
    now = [0.0]
    budget = Budget(RenderLimits(timeout_seconds=1), clock=lambda: now[0])
    budget.check_time()
    now[0] = 1.5
    with pytest.raises(TemplateLimitError, match="took longer than 1 s"):
        budget.check_time()


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="must be positive"):
        RenderLimits(timeout_seconds=0)


def test_an_expression_nested_too_deeply_is_a_syntax_problem() -> None:
    text = "{{ " + "(" * 20_000 + "1" + ")" * 20_000 + " }}"
    [problem] = validate(text)
    assert (problem.kind, problem.message) == ("syntax", NESTED_TOO_DEEPLY)
    assert variables_used(text) == []
