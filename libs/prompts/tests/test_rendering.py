"""Rendering in the sandbox: filters, strict variables, and errors that name the line."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tradelane.prompts.context import IndicatorValues, sample_context
from tradelane.prompts.rendering import TemplateRenderError, render


def _render(text: str, **context: Any) -> str:
    return render(text, {"min_tick": 0.01, "currency": "USD", **context})


def test_price_uses_the_decimals_of_the_tick() -> None:
    assert _render("{{ p | price }}", p=1.234567, min_tick=0.0001) == "1.2346"


def test_price_of_a_whole_tick_has_no_decimals() -> None:
    assert _render("{{ p | price }}", p=18234.6, min_tick=1) == "18235"


def test_number_has_thousands_separators() -> None:
    assert _render("{{ v | number(0) }}", v=53500000.4) == "53,500,000"


def test_percent_reads_a_fraction() -> None:
    assert _render("{{ r | percent }}", r=0.0123) == "1.23%"


def test_signed_shows_the_sign() -> None:
    assert _render("{{ a | signed }} {{ b | signed(1) }}", a=-1.5, b=2) == "-1.50 +2.0"


def test_currency_appends_the_symbol_currency() -> None:
    assert _render("{{ v | currency }}", v=1234.5) == "1,234.50 USD"


def test_date_formats_datetimes_and_iso_strings() -> None:
    moment = datetime(2025, 3, 14, 21, 5, tzinfo=UTC)
    assert (
        _render("{{ t | date('%d/%m %H:%M') }} {{ s | date }}", t=moment, s="2025-01-02T00:00:00Z")
        == "14/03 21:05 2025-01-02"
    )


def test_missing_values_print_not_available() -> None:
    assert _render("{{ v | price }} {{ v | percent }} {{ v | number }}", v=None) == "n/a n/a n/a"


def test_a_missing_indicator_reads_as_none() -> None:
    assert _render("{{ indicators.ema_9 is none }}", indicators=IndicatorValues(sma_20=1.0)) == "True"


def test_an_undefined_variable_fails_with_its_line() -> None:
    with pytest.raises(TemplateRenderError) as caught:
        _render("first\nsecond {{ nothing_here }}")
    assert caught.value.line == 2
    assert "nothing_here" in str(caught.value)


def test_a_misspelt_attribute_fails_with_its_line() -> None:
    with pytest.raises(TemplateRenderError) as caught:
        render("{{ symbol }}\n\n{{ bar_summary.chnage }}", sample_context())
    assert caught.value.line == 3
    assert "chnage" in caught.value.message


def test_the_sandbox_refuses_python_internals() -> None:
    with pytest.raises(TemplateRenderError, match="unsafe"):
        _render("{{ ''.__class__.__mro__ }}")


def test_the_sandbox_refuses_to_modify_values() -> None:
    with pytest.raises(TemplateRenderError, match="unsafe"):
        _render("{{ bars.append(1) }}", bars=[])


def test_a_syntax_error_fails_with_its_line() -> None:
    with pytest.raises(TemplateRenderError) as caught:
        _render("ok\n{% if x %}\nno end")
    assert caught.value.line == 3
    assert "syntax error" in str(caught.value)


def test_tag_only_lines_leave_no_blank_lines() -> None:
    assert _render("a\n{% if true %}\nb\n{% endif %}\nc") == "a\nb\nc"
