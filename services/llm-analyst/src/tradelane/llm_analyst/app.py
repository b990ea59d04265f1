"""Wiring of the llm-analyst: the offline rules always, and a vision model when one is configured.

Without ``TRADELANE_LLM_BASE_URL`` nothing else is opened (no database, no HTTP client) and
every strategy is analysed by the offline rules; the start-up log says so. With it, the
service opens the PostgreSQL pool (prompt templates, call records, response cache) and one
``AsyncOpenAI`` client shared by all messages.
"""

from __future__ import annotations

import openai
import structlog

from tradelane.contracts.subjects import Step
from tradelane.llm_analyst import offline
from tradelane.llm_analyst.analyst import AnalystConfig, LlmAnalyst
from tradelane.llm_analyst.budget import DailyBudget
from tradelane.llm_analyst.client import LlmClient
from tradelane.llm_analyst.config import AnalystSettings
from tradelane.llm_analyst.delivery import current_delivery
from tradelane.llm_analyst.handlers import Analyst
from tradelane.llm_analyst.templates import TemplateSource
from tradelane.prompts.limits import RenderLimits
from tradelane.runtime.service import Service
from tradelane.store.llm import LlmRepository
from tradelane.store.migrate import migrate
from tradelane.store.pool import create_pool
from tradelane.store.prompts import PromptRepository

log = structlog.get_logger(__name__)


def build(settings: AnalystSettings | None = None) -> Service:
    """The analyst service; with an LLM endpoint configured, strategies with analyst 'auto' or 'llm' use it."""
    settings = settings or AnalystSettings()
    service = Service("llm-analyst", settings)
    analyst = Analyst(
        None,
        retry_rules=settings.retry_rules,
        current_delivery=lambda: current_delivery(service.broker),
    )
    service.step(Step.ANALYSIS)(analyst.on_chart_rendered)

    @service.on_start
    async def choose_analyst() -> None:
        if not settings.llm_configured:
            log.info(
                "analyst_selected",
                analyst=offline.MODEL,
                reason="no LLM endpoint configured (TRADELANE_LLM_BASE_URL): every strategy uses the offline rules",
            )
            return
        analyst.use_llm(await _open_llm(service, settings))
        log.info(
            "analyst_selected",
            analyst="llm",
            provider=settings.llm_provider,
            model=settings.llm_model,
            daily_budget_usd=str(settings.llm_daily_budget_usd) if settings.llm_daily_budget_usd else "none",
            reason="strategies with analyst 'auto' or 'llm' use the model; 'offline' ones the rules",
        )

    return service


async def _open_llm(service: Service, settings: AnalystSettings) -> LlmAnalyst:
    pool = await create_pool(settings.database_url)
    service.resources.push_async_callback(pool.close)
    await migrate(pool)
    assert settings.llm_api_key is not None
    assert settings.llm_model is not None
    client = LlmClient(
        openai.AsyncOpenAI(
            base_url=settings.llm_base_url,
            api_key=settings.llm_api_key.get_secret_value(),
            timeout=settings.llm_timeout,
            max_retries=0,
        ),
        max_concurrency=settings.llm_max_concurrency,
        max_attempts=settings.llm_max_attempts,
    )
    service.resources.push_async_callback(client.close)
    calls = LlmRepository(pool)
    budget = settings.llm_daily_budget_usd
    return LlmAnalyst(
        client=client,
        templates=TemplateSource(PromptRepository(pool)),
        calls=calls,
        budget=DailyBudget(budget, calls, service.bus.publish) if budget is not None else None,
        fetch_image=service.bus.get_object,
        config=AnalystConfig(
            default_model=settings.llm_model,
            provider=settings.llm_provider,
            prices=dict(settings.llm_prices),
            retry_budget_seconds=settings.llm_retry_budget,
            render_limits=RenderLimits(
                timeout_seconds=settings.prompt_render_timeout_seconds,
                max_output_chars=settings.prompt_max_output_chars,
                max_memory_bytes=settings.prompt_render_memory_bytes,
            ),
        ),
    )
