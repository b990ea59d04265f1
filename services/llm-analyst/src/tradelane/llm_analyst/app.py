"""Wiring of the llm-analyst service (offline analyst only, for now)."""

from __future__ import annotations

import structlog

from tradelane.contracts.subjects import Step
from tradelane.llm_analyst import offline
from tradelane.llm_analyst.handlers import on_chart_rendered
from tradelane.runtime.service import Service
from tradelane.runtime.settings import Settings

log = structlog.get_logger(__name__)


def build(settings: Settings | None = None) -> Service:
    service = Service("llm-analyst", settings or Settings())
    service.step(Step.ANALYSIS)(on_chart_rendered)

    @service.on_start
    async def say_which_analyst() -> None:
        log.info("analyst_selected", analyst=offline.MODEL, reason="no LLM endpoint support yet: offline rules")

    return service
