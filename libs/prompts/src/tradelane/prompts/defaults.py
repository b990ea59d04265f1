"""The templates tradelane ships: analysis, consolidation and system, in English and Chinese.

They are what an execution uses when neither the strategy nor a stored default template
names another. Their text lives beside this module in ``templates/<type>.<language>.j2``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

from tradelane.prompts.kinds import LANGUAGES, TEMPLATE_TYPES, Language, TemplateType


@dataclass(frozen=True)
class DefaultTemplate:
    """A built-in template; ``name`` is how the lineage refers to it (it has no id nor version)."""

    type: TemplateType
    language: Language
    name: str
    text: str


@cache
def default_template(template_type: TemplateType, language: Language) -> DefaultTemplate:
    """The built-in template of a type in a language."""
    text = (resources.files("tradelane.prompts") / "templates" / f"{template_type}.{language}.j2").read_text(
        encoding="utf-8"
    )
    return DefaultTemplate(template_type, language, f"builtin-{template_type}-{language}", text)


def default_templates() -> list[DefaultTemplate]:
    """Every built-in template, by type then language."""
    return [default_template(kind, language) for kind in TEMPLATE_TYPES for language in LANGUAGES]
