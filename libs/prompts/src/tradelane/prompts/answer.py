"""The answer a model must give: its pydantic schema, the JSON schema sent to the model, and parsing.

The same schema serves every template type: an analysis of one timeframe and the consolidation
of several both answer with one :class:`AnalysisAnswer`. The JSON schema is written for
OpenAI's strict structured outputs (every property required, no extra properties, nullable
prices as ``["number", "null"]``); the bounds it cannot express there (confidence 0-100,
positive prices) are enforced by :func:`parse_answer`.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tradelane.contracts.events import Analysis, Bias, Trend

ANSWER_SCHEMA_NAME = "chart_analysis"
MAX_KEY_FACTORS = 12
MAX_LEVELS = 10

Price = Annotated[float, Field(gt=0)]


class AnalysisAnswer(BaseModel):
    """A model's reading of a chart: what every template asks for and every reply must be."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    bias: Bias = Field(description="Which way to lean: bullish, bearish or neutral.")
    trend: Trend = Field(description="The prevailing trend: uptrend, downtrend or sideways.")
    confidence: int = Field(ge=0, le=100, description="How sure, an integer from 0 to 100.")
    support: list[Price] = Field(max_length=MAX_LEVELS, description="Support levels below the price, nearest first.")
    resistance: list[Price] = Field(
        max_length=MAX_LEVELS, description="Resistance levels above the price, nearest first."
    )
    suggested_entry: Price | None = Field(description="Entry price; null when neutral.")
    suggested_stop: Price | None = Field(description="Stop-loss price; null when neutral.")
    suggested_targets: list[Price] = Field(
        max_length=MAX_LEVELS, description="Take-profit prices, nearest first; empty when neutral."
    )
    key_factors: list[str] = Field(
        max_length=MAX_KEY_FACTORS, description="Short reasons with their numbers, most important first."
    )
    reasoning: str = Field(description="The explanation, a few sentences.")

    def to_analysis(self, model: str) -> Analysis:
        """The pipeline's :class:`Analysis` of this answer, naming the model that gave it."""
        return Analysis(
            bias=self.bias,
            trend=self.trend,
            confidence=self.confidence,
            support=tuple(self.support),
            resistance=tuple(self.resistance),
            suggested_entry=self.suggested_entry,
            suggested_stop=self.suggested_stop,
            suggested_targets=tuple(self.suggested_targets),
            key_factors=tuple(factor.strip() for factor in self.key_factors if factor.strip()),
            reasoning=self.reasoning.strip(),
            model=model,
        )


def answer_json_schema() -> dict[str, Any]:
    """The JSON schema of :class:`AnalysisAnswer` in the strict form structured outputs accept."""
    price = {"type": "number", "description": "A price, greater than 0."}

    def levels(description: str) -> dict[str, Any]:
        return {"type": "array", "items": price, "description": description}

    def nullable_price(description: str) -> dict[str, Any]:
        return {"type": ["number", "null"], "description": description}

    properties: dict[str, Any] = {
        "bias": {"type": "string", "enum": ["bullish", "bearish", "neutral"], "description": "Which way to lean."},
        "trend": {"type": "string", "enum": ["uptrend", "downtrend", "sideways"], "description": "Prevailing trend."},
        "confidence": {"type": "integer", "description": "How sure, from 0 to 100."},
        "support": levels("Support levels below the latest price, nearest first."),
        "resistance": levels("Resistance levels above the latest price, nearest first."),
        "suggested_entry": nullable_price("Entry price; null when the bias is neutral."),
        "suggested_stop": nullable_price("Stop-loss price; null when the bias is neutral."),
        "suggested_targets": levels("Take-profit prices, nearest first; empty when the bias is neutral."),
        "key_factors": {
            "type": "array",
            "items": {"type": "string"},
            "description": f"At most {MAX_KEY_FACTORS} short reasons with their numbers, most important first.",
        },
        "reasoning": {"type": "string", "description": "The explanation, a few sentences."},
    }
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def answer_schema_text() -> str:
    """The JSON schema as templates print it (``{{ answer_schema }}``)."""
    return json.dumps(answer_json_schema(), indent=2, ensure_ascii=False)


class InvalidAnswerError(ValueError):
    """A reply is not an :class:`AnalysisAnswer`; the message says what is wrong, field by field."""


_FENCED = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.DOTALL)


def parse_answer(text: str | None) -> AnalysisAnswer:
    """Read a model's reply as an :class:`AnalysisAnswer`.

    Accepts the JSON object alone, inside a Markdown code fence, or surrounded by prose
    (servers in JSON mode without a schema sometimes add either); anything else is refused
    with an :class:`InvalidAnswerError` that names each problem.
    """
    if text is None or not text.strip():
        raise InvalidAnswerError("the reply is empty; answer with one JSON object")
    try:
        body = json.loads(_json_object_text(text))
    except ValueError as error:
        raise InvalidAnswerError(f"the reply is not a JSON object ({error})") from error
    if not isinstance(body, dict):
        raise InvalidAnswerError(f"the reply is JSON but not an object (got {type(body).__name__})")
    try:
        return AnalysisAnswer.model_validate(body)
    except ValidationError as error:
        raise InvalidAnswerError(_describe(error)) from error


def _json_object_text(text: str) -> str:
    fenced = _FENCED.search(text)
    candidate = fenced.group(1) if fenced else text
    start, end = candidate.find("{"), candidate.rfind("}")
    if start == -1 or end < start:
        return candidate.strip()
    return candidate[start : end + 1]


def _describe(error: ValidationError) -> str:
    problems = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "answer"
        got = "" if item["type"] == "missing" else f" (got {json.dumps(item.get('input'), default=str)[:80]})"
        problems.append(f"{where}: {item['msg']}{got}")
    return "; ".join(problems)
