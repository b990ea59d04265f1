"""Which prompt template an execution renders, and rendering it.

For each template type, in the strategy's ``analysis.language``:

1. ``analysis``: the template ``analysis.prompt_template_id`` names, at ``analysis.prompt_version``
   (or its latest version), used even when inactive since the strategy asks for it by id;
2. else the active stored template marked default for that type and language - one scoped to
   the strategy first, then a global one;
3. else the built-in template (:mod:`tradelane.prompts.defaults`).

``system`` and ``consolidation`` templates follow steps 2 and 3.

Rendering runs in a worker thread and a render process within the service's render limits
(time, output size, memory); a template that exceeds one is unusable, like one with an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from tradelane.contracts.events import TemplateRef
from tradelane.contracts.strategy import AnalysisSettings
from tradelane.prompts.defaults import default_template
from tradelane.prompts.kinds import TemplateType
from tradelane.prompts.rendering import RenderLimits, TemplateRenderError, render_async
from tradelane.store.prompts import PromptRepository


class TemplateUnusableError(ValueError):
    """The template a strategy names cannot be used; the message says what to change."""


@dataclass(frozen=True)
class ResolvedTemplate:
    """A template's text and how the lineage refers to it."""

    ref: TemplateRef
    text: str

    async def render(self, context: Mapping[str, Any], limits: RenderLimits) -> str:
        """The template rendered within ``limits``; raises :class:`TemplateUnusableError` naming it and the line."""
        try:
            return await render_async(self.text, context, limits)
        except TemplateRenderError as error:
            raise TemplateUnusableError(f"prompt template {self.describe()} does not render: {error}") from error

    def describe(self) -> str:
        if self.ref.template_id is None:
            return repr(self.ref.name)
        return f"{self.ref.name!r} ({self.ref.template_id} version {self.ref.version})"


class TemplateSource:
    """Resolves templates from the stored ones (when there is a database) and the built-in ones."""

    def __init__(self, repository: PromptRepository | None) -> None:
        self._repository = repository

    async def resolve(
        self, template_type: TemplateType, analysis: AnalysisSettings, strategy_id: UUID
    ) -> ResolvedTemplate:
        """The template of ``template_type`` for this strategy, by the rules of this module."""
        if template_type == "analysis" and analysis.prompt_template_id is not None:
            return await self._pinned(analysis)
        if self._repository is not None:
            stored = await self._repository.default_for(template_type, analysis.language, strategy_id)
            if stored is not None:
                ref = TemplateRef(
                    type=template_type, name=stored.fields.name, template_id=stored.id, version=stored.version
                )
                return ResolvedTemplate(ref, stored.text)
        builtin = default_template(template_type, analysis.language)
        return ResolvedTemplate(TemplateRef(type=template_type, name=builtin.name), builtin.text)

    async def _pinned(self, analysis: AnalysisSettings) -> ResolvedTemplate:
        template_id = analysis.prompt_template_id
        assert template_id is not None
        if self._repository is None:
            msg = f"analysis.prompt_template_id is {template_id}, but the analyst has no template database"
            raise TemplateUnusableError(msg)
        stored = await self._repository.get(template_id, analysis.prompt_version)
        if stored is None:
            latest = await self._repository.get(template_id)
            if latest is None:
                msg = (
                    f"prompt template {template_id} (analysis.prompt_template_id) does not exist; "
                    "set it to an existing template or to null for the default"
                )
            else:
                msg = (
                    f"prompt template {latest.fields.name!r} has no version {analysis.prompt_version} "
                    f"(analysis.prompt_version); its versions are 1 to {latest.version}"
                )
            raise TemplateUnusableError(msg)
        if stored.fields.type != "analysis":
            msg = (
                f"prompt template {stored.fields.name!r} is a {stored.fields.type!r} template; "
                "analysis.prompt_template_id must name an 'analysis' template"
            )
            raise TemplateUnusableError(msg)
        ref = TemplateRef(type="analysis", name=stored.fields.name, template_id=stored.id, version=stored.version)
        return ResolvedTemplate(ref, stored.text)
