"""The strategy form: which input stands for which field of a :class:`StrategyDefinition`, both ways.

Every input is named by its path in the API's body (see :mod:`.forms`), so a definition
becomes form values by flattening its JSON (to edit it), and form values become the body the
API validates by splitting the names again (to check or save it). What a flat form cannot
spell the same way is here, once:

- **Indicators** are rows, ``indicators.<row>.<parameter>``, each with a hidden ``kind``; the
  parameters of a kind are the fields of its spec model, so a new parameter shows up by itself.
- **Lists of numbers or names** (targets in R, candlestick patterns) are one text input,
  comma-separated.
- **Extra timeframes** are one checkbox per bar size, ``analysis.timeframes.<n>``.
- **Checkboxes** that are unticked are not sent at all, so each is named here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Final, Literal, get_args, get_origin

from pydantic import BaseModel

from tradelane.contracts.strategy import (
    BarSize,
    IndicatorSpec,
    StrategyDefinition,
    SymbolRef,
)
from tradelane.gateway.ui.forms import nested

CHECKBOXES: Final = ("active", "render_png", "use_rth", "auto_trade", "analysis.cache")
REQUIRED: Final = ("name", "symbol.symbol")
TIMEFRAMES: Final = "analysis.timeframes"
BAR_SIZES: Final = tuple(BarSize)
COMMA_LISTS: Final = ("risk.target_r_multiples", "patterns")
"""Fields (a dotted path, or an indicator parameter's name) typed as one comma-separated text."""
CONTROLS: Final = ("new_indicator", "add_indicator", "remove_indicator")
"""Inputs that change the form itself (add or remove an indicator row), never part of the body."""
INDICATOR_KINDS: Final[dict[str, type[BaseModel]]] = {
    spec.model_fields["kind"].default: spec for spec in get_args(get_args(IndicatorSpec)[0])
}
"""Every indicator the API knows, by its ``kind``."""
PARAMETER_LABELS: Final = {
    "ma_type": "MA type",
    "std_dev": "Standard deviations",
    "patterns": "Patterns (empty: all)",
}
"""Indicator parameters whose field name does not read well as a label."""


@dataclass(frozen=True)
class Parameter:
    """One input of an indicator row."""

    name: str
    label: str
    options: tuple[str, ...] = ()
    """The values allowed, when they are a fixed set (a select)."""


@dataclass(frozen=True)
class IndicatorRow:
    """One indicator of the form: its position in the names, its kind and the inputs of that kind."""

    row: int
    kind: str
    parameters: tuple[Parameter, ...]

    def name(self, parameter: str = "") -> str:
        return f"indicators.{self.row}" + (f".{parameter}" if parameter else "")


@dataclass
class StrategyForm:
    """What the form shows: values by field name, which boxes are ticked, the indicator rows, and errors."""

    values: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def checked(self) -> dict[str, bool]:
        return {name: bool(self.values.get(name)) for name in (*CHECKBOXES, *timeframe_names())}

    @property
    def indicators(self) -> list[IndicatorRow]:
        rows = sorted(
            (int(name.split(".")[1]), value)
            for name, value in self.values.items()
            if name.startswith("indicators.") and name.endswith(".kind") and value in INDICATOR_KINDS
        )
        return [IndicatorRow(row, kind, parameters(kind)) for row, kind in rows]

    @property
    def row_numbers(self) -> list[int]:
        """The number in the names of each indicator sent, in order: the list position of each in the body."""
        return sorted({int(name.split(".")[1]) for name in self.values if re.match(r"indicators\.\d+\.", name)})

    def error_slots(self) -> list[str]:
        """The names of every error placeholder the form renders (where a live check puts its errors)."""
        rows = [row.name() for row in self.indicators]
        params = [row.name(parameter.name) for row in self.indicators for parameter in row.parameters]
        return [*STATIC_FIELDS, TIMEFRAMES, *rows, *params]


STATIC_FIELDS: Final = (
    "name",
    "description",
    "symbol.symbol",
    "symbol.exchange",
    "symbol.currency",
    "symbol.asset_type",
    "symbol.conid",
    "bar_size",
    "duration",
    "what_to_show",
    "use_rth",
    "analysis.analyst",
    "analysis.model",
    "analysis.temperature",
    "analysis.max_tokens",
    "analysis.language",
    "analysis.prompt_template_id",
    "analysis.prompt_version",
    "analysis.cache",
    "analysis.on_failure",
    "render_png",
    "chart_bars",
    "risk.account_size",
    "risk.risk_per_trade",
    "risk.min_risk_reward",
    "risk.min_profit_margin",
    "risk.min_confidence",
    "risk.stop_atr_multiple",
    "risk.target_r_multiples",
    "risk.signal_ttl_hours",
    "schedule.cron",
    "schedule.timezone",
    "active",
    "auto_trade",
)
"""Every input that is not an indicator parameter or a timeframe box, in the order of the form."""


def _options(annotation: Any) -> tuple[str, ...]:
    """The values a field allows when they are a fixed set (a Literal or an enum), else none."""
    if get_origin(annotation) is Literal:
        return tuple(str(value) for value in get_args(annotation))
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return tuple(str(member.value) for member in annotation)
    return ()


def choices(model: type[BaseModel], name: str) -> tuple[str, ...]:
    """The values ``model.name`` allows, for a select."""
    return _options(model.model_fields[name].annotation)


def parameters(kind: str) -> tuple[Parameter, ...]:
    """The inputs of one indicator kind: every field of its spec but ``kind``."""
    spec = INDICATOR_KINDS[kind]
    return tuple(
        Parameter(name, PARAMETER_LABELS.get(name, name.replace("_", " ").capitalize()), _options(info.annotation))
        for name, info in spec.model_fields.items()
        if name != "kind"
    )


def timeframe_names() -> list[str]:
    return [timeframe_name(size) for size in BAR_SIZES]


def timeframe_name(size: BarSize) -> str:
    return f"{TIMEFRAMES}.{BAR_SIZES.index(size)}"


def _flat(node: Any, prefix: str, into: dict[str, str]) -> None:
    """``node`` (JSON) as form values: objects and lists of objects by dotted names, scalar lists comma-joined."""
    if isinstance(node, dict):
        for key, value in node.items():
            _flat(value, f"{prefix}.{key}" if prefix else key, into)
    elif isinstance(node, list) and any(isinstance(item, dict) for item in node):
        for position, item in enumerate(node):
            _flat(item, f"{prefix}.{position}", into)
    elif isinstance(node, list):
        into[prefix] = ", ".join(str(item) for item in node)
    elif isinstance(node, bool):
        if node:
            into[prefix] = "on"
    elif node is not None:
        into[prefix] = str(node)


def values_of(definition: Mapping[str, Any]) -> dict[str, str]:
    """A definition's JSON as the form's values."""
    body = dict(definition)
    analysis = dict(body.get("analysis", {}))
    frames = analysis.pop("timeframes", [])
    body["analysis"] = analysis
    values: dict[str, str] = {}
    _flat(body, "", values)
    values |= {timeframe_name(BarSize(frame)): frame for frame in frames}
    return values


def form_of(definition: StrategyDefinition) -> StrategyForm:
    """The form of a stored strategy, to edit it."""
    return StrategyForm(values_of(definition.model_dump(mode="json")))


def new_form() -> StrategyForm:
    """The form of a new strategy: every field at the API's default, name and symbol empty."""
    blank = StrategyDefinition.model_construct(name="", symbol=SymbolRef.model_construct(symbol=""))
    values = values_of(blank.model_dump(mode="json", warnings=False))
    return StrategyForm({name: value for name, value in values.items() if name not in REQUIRED})


def body_of(values: Mapping[str, str]) -> dict[str, Any]:
    """The JSON body the submitted form stands for, as create, replace and check take it."""
    fields = {name: value for name, value in values.items() if name not in CONTROLS}
    body = nested(fields, checkboxes=CHECKBOXES, required=REQUIRED)
    risk = body.get("risk", {})
    if isinstance(risk.get("target_r_multiples"), str):
        risk["target_r_multiples"] = _split(risk["target_r_multiples"])
    for indicator in body.get("indicators", []):
        if isinstance(indicator, dict) and isinstance(indicator.get("patterns"), str):
            indicator["patterns"] = _split(indicator["patterns"])
    return body


def _split(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def with_indicator(values: Mapping[str, str], kind: str) -> dict[str, str]:
    """``values`` with one more indicator row of ``kind``, at its defaults."""
    rows = [int(name.split(".")[1]) for name in values if name.startswith("indicators.") and name.endswith(".kind")]
    row = max(rows, default=-1) + 1
    added: dict[str, str] = {}
    _flat(INDICATOR_KINDS[kind]().model_dump(mode="json"), f"indicators.{row}", added)
    return {**values, **added}


def without_indicator(values: Mapping[str, str], row: int) -> dict[str, str]:
    """``values`` without the indicator row ``row``."""
    prefix = f"indicators.{row}."
    return {name: value for name, value in values.items() if not name.startswith(prefix)}


def located(errors: list[Any], row_numbers: list[int]) -> list[Any]:
    """Validation errors of indicators placed at the inputs that stand for them.

    An error's location has the indicator's position in the body's list, and pydantic puts the
    error of a tagged union member under the tag (``indicators.0.rsi.period``); the form names the
    input by its row number, without the tag (``indicators.3.period``).
    """
    moved = []
    for error in errors:
        loc = list(error["loc"])
        start = 1 if loc[:1] == ["body"] else 0
        at = start + 1
        if loc[start : start + 1] == ["indicators"] and len(loc) > at and isinstance(loc[at], int):
            if loc[at] < len(row_numbers):
                loc[at] = row_numbers[loc[at]]
            if len(loc) > at + 1 and loc[at + 1] in INDICATOR_KINDS:
                del loc[at + 1]
        moved.append({**error, "loc": tuple(loc)})
    return moved
