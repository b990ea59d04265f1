"""The kinds of template and the languages they are written in."""

from __future__ import annotations

from typing import Literal, get_args

TemplateType = Literal["analysis", "consolidation", "system"]
"""``analysis``: one timeframe's chart and numbers; ``consolidation``: combine the timeframes'
readings into one; ``system``: the system message sent with both."""

Language = Literal["en", "zh"]

TEMPLATE_TYPES: tuple[TemplateType, ...] = get_args(TemplateType)
LANGUAGES: tuple[Language, ...] = get_args(Language)
