"""Wiring of the gateway: the only place that reads settings and builds the broker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import structlog
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from tradelane.gateway.config import GatewaySettings
from tradelane.gateway.errors import redacted_http_error_handler, validation_error_handler
from tradelane.gateway.outage import NATS_UNREACHABLE, dependency_unavailable_handler
from tradelane.gateway.routes import (
    asyncapi,
    audit,
    backtests,
    charts,
    dlq,
    executions,
    health,
    lineage,
    llm,
    orders,
    performance,
    portfolio,
    prompts,
    replay,
    risk,
    session,
    signals,
    strategies,
    symbols,
    system,
    tokens,
)
from tradelane.gateway.security.stack import install
from tradelane.gateway.state import GatewayState
from tradelane.gateway.ui import assets, dashboard, deadletters, livelog, login
from tradelane.gateway.ui import backtests as backtest_pages
from tradelane.gateway.ui import executions as execution_pages
from tradelane.gateway.ui import orders as order_pages
from tradelane.gateway.ui import portfolio as portfolio_page
from tradelane.gateway.ui import prompts as prompt_pages
from tradelane.gateway.ui import risk as risk_page
from tradelane.gateway.ui import signals as signal_pages
from tradelane.gateway.ui import strategies as strategy_pages
from tradelane.gateway.ui import symbols as symbol_pages
from tradelane.gateway.ui import system as system_pages
from tradelane.prompts.limits import RenderLimits
from tradelane.runtime.background import BackgroundTasks
from tradelane.runtime.bus import EventBus
from tradelane.runtime.errors import POSTGRES_UNREACHABLE
from tradelane.runtime.flow import is_concrete, role_of
from tradelane.runtime.layout import ensure_layout
from tradelane.runtime.log_stream import stream_logs
from tradelane.runtime.payloads import PayloadStore
from tradelane.runtime.service import create_broker
from tradelane.store.audit import AuditRepository
from tradelane.store.auth import SessionRepository, TokenRepository
from tradelane.store.lineage import LineageRepository
from tradelane.store.llm import LlmRepository
from tradelane.store.migrate import migrate
from tradelane.store.pool import create_pool
from tradelane.store.prompts import PromptRepository
from tradelane.store.strategies import StrategyRepository

log = structlog.get_logger(__name__)

DESCRIPTION = """\
Manage strategies, run them now, and follow every execution step by step.

Runs are asynchronous: `POST /api/strategies/{id}/run` answers 202 with the execution's
`status_url`, and the lineage fills in as the pipeline's services publish each step.

Every route but `/healthz` and `/readyz` needs an API token, sent as `Authorization: Bearer <token>`;
each operation says the scope it needs (`read` < `operate` < `trade` < `admin`).

The bus behind it is described by its AsyncAPI document: `/asyncapi.json`, rendered at `/asyncapi` (scope `read`).
"""


def create_app(settings: GatewaySettings) -> FastAPI:
    """The gateway app; its lifespan opens Postgres (migrated) and NATS (provisioned), and streams its log lines."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            pool = await create_pool(settings.database_url)
            stack.push_async_callback(pool.close)
            await migrate(pool)
            broker = create_broker(settings, "gateway")
            await broker.connect()
            stack.push_async_callback(broker.stop)
            background = BackgroundTasks()
            stack.push_async_callback(background.stop)
            log_stream = stream_logs("gateway", broker.connection, settings.log_stream_level, background)
            if log_stream is not None:
                stack.callback(log_stream.detach)
            await ensure_layout(broker.connection.jetstream(), settings, consumers=())
            bus = EventBus(broker, filter(is_concrete, role_of("gateway").publishes))
            app.state.gateway = GatewayState(
                pool=pool,
                broker=broker,
                bus=bus,
                payloads=PayloadStore(bus),
                strategies=StrategyRepository(pool),
                lineage=LineageRepository(pool),
                prompts=PromptRepository(pool),
                llm=LlmRepository(pool),
                tokens=TokenRepository(pool),
                sessions=SessionRepository(pool),
                audit=AuditRepository(pool),
                ceilings=settings.trading_ceilings,
                render_limits=RenderLimits(
                    timeout_seconds=settings.prompt_render_timeout_seconds,
                    max_output_chars=settings.prompt_max_output_chars,
                    max_memory_bytes=settings.prompt_render_memory_bytes,
                ),
                llm_daily_budget_usd=settings.llm_daily_budget_usd,
                lineage_detail_days=settings.lineage_detail_window_days,
                health_window_seconds=settings.gateway_health_window_seconds,
            )
            log.info("gateway_started", version=settings.service_version)
            yield
            log.info("gateway_stopping")

    app = FastAPI(
        title="tradelane gateway",
        version=settings.service_version,
        description=DESCRIPTION,
        lifespan=lifespan,
        exception_handlers={
            RequestValidationError: validation_error_handler,
            StarletteHTTPException: redacted_http_error_handler,
            **dict.fromkeys(NATS_UNREACHABLE + POSTGRES_UNREACHABLE, dependency_unavailable_handler),
        },
        # Swagger UI and ReDoc load their code from a CDN; the OpenAPI document is at /openapi.json
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    modules = (
        strategies,
        executions,
        replay,
        dlq,
        lineage,
        charts,
        prompts,
        llm,
        symbols,
        orders,
        signals,
        performance,
        backtests,
        portfolio,
        risk,
        session,
        tokens,
        audit,
        system,
        health,
        asyncapi,
        assets,
        login,
        dashboard,
        strategy_pages,
        execution_pages,
        order_pages,
        portfolio_page,
        risk_page,
        prompt_pages,
        symbol_pages,
        deadletters,
        system_pages,
        livelog,
        signal_pages,
        backtest_pages,
    )
    for module in modules:
        app.include_router(module.router)
    install(app, settings, [module.router for module in modules])
    return app
