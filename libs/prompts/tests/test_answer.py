"""The answer schema: what a model must reply, how replies are read, and what is refused."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tradelane.prompts.answer import (
    AnalysisAnswer,
    InvalidAnswerError,
    answer_json_schema,
    answer_schema_text,
    parse_answer,
)

VALID: dict[str, Any] = {
    "bias": "bullish",
    "trend": "uptrend",
    "confidence": 72,
    "support": [101.5, 98.0],
    "resistance": [110.0],
    "suggested_entry": 105.0,
    "suggested_stop": 100.5,
    "suggested_targets": [110.0, 115.0],
    "key_factors": ["close above SMA 20", "  ", "MACD above signal"],
    "reasoning": " Momentum is improving. ",
}


def test_a_plain_json_object_is_read() -> None:
    assert parse_answer(json.dumps(VALID)).confidence == 72


def test_a_fenced_json_object_is_read() -> None:
    assert parse_answer(f"Here you go:\n```json\n{json.dumps(VALID)}\n```").bias == "bullish"


def test_prose_around_the_object_is_ignored() -> None:
    assert parse_answer(f"My reading: {json.dumps(VALID)} Good luck.").trend == "uptrend"


def test_an_empty_reply_is_refused() -> None:
    with pytest.raises(InvalidAnswerError, match="empty"):
        parse_answer("  ")


def test_a_reply_without_json_is_refused() -> None:
    with pytest.raises(InvalidAnswerError, match="not a JSON object"):
        parse_answer("I think it goes up.")


def test_a_json_array_is_refused() -> None:
    with pytest.raises(InvalidAnswerError, match=r"not a JSON object|not an object"):
        parse_answer("[1, 2]")


def test_each_bad_field_is_named_with_its_value() -> None:
    reply = json.dumps({**VALID, "confidence": 150, "bias": "up"})
    with pytest.raises(InvalidAnswerError) as caught:
        parse_answer(reply)
    message = str(caught.value)
    assert "confidence: Input should be less than or equal to 100 (got 150)" in message
    assert "bias:" in message
    assert '(got "up")' in message


def test_a_missing_field_is_named() -> None:
    body = {key: value for key, value in VALID.items() if key != "reasoning"}
    with pytest.raises(InvalidAnswerError, match="reasoning: Field required"):
        parse_answer(json.dumps(body))


def test_a_negative_price_is_refused() -> None:
    with pytest.raises(InvalidAnswerError, match="suggested_stop"):
        parse_answer(json.dumps({**VALID, "suggested_stop": -1}))


def test_the_schema_is_strict_every_property_required_and_no_extras() -> None:
    schema = answer_json_schema()
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == set(schema["properties"]) == set(AnalysisAnswer.model_fields)


def test_the_schema_lets_neutral_answers_leave_prices_null() -> None:
    properties = answer_json_schema()["properties"]
    assert properties["suggested_entry"]["type"] == ["number", "null"]
    assert properties["suggested_stop"]["type"] == ["number", "null"]


def test_the_schema_text_is_the_schema_as_json() -> None:
    assert json.loads(answer_schema_text()) == answer_json_schema()


def test_the_answer_becomes_an_analysis_naming_the_model_without_blank_factors() -> None:
    analysis = parse_answer(json.dumps(VALID)).to_analysis("gpt-4o")
    assert analysis.model == "gpt-4o"
    assert analysis.key_factors == ("close above SMA 20", "MACD above signal")
    assert analysis.reasoning == "Momentum is improving."
    assert analysis.suggested_targets == (110.0, 115.0)
