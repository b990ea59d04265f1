"""What the gateway's routes need, built once by the app's lifespan."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import asyncpg
from faststream.nats import NatsBroker

from tradelane.contracts.ceilings import TradingCeilings
from tradelane.prompts.limits import DEFAULT_LIMITS, RenderLimits
from tradelane.runtime.bus import EventBus
from tradelane.runtime.bus_status import HEALTH_WINDOW_SECONDS
from tradelane.runtime.payloads import PayloadStore
from tradelane.store.audit import AuditRepository
from tradelane.store.auth import SessionRepository, TokenRepository
from tradelane.store.lineage import LineageRepository
from tradelane.store.llm import LlmRepository
from tradelane.store.prompts import PromptRepository
from tradelane.store.strategies import StrategyRepository


@dataclass(frozen=True)
class GatewayState:
    """The open connections and the repositories and bus built on them."""

    pool: asyncpg.Pool[Any]
    broker: NatsBroker
    bus: EventBus
    payloads: PayloadStore
    """Resolves the bars and series that recorded messages refer to (one per app: its cache is worth keeping)."""
    strategies: StrategyRepository
    lineage: LineageRepository
    prompts: PromptRepository
    llm: LlmRepository
    tokens: TokenRepository
    sessions: SessionRepository
    audit: AuditRepository
    lineage_detail_days: float
    """How long the lineage keeps step messages in full (``TRADELANE_LINEAGE_DETAIL_DAYS``), for the 410 past it."""
    ceilings: TradingCeilings = field(default_factory=TradingCeilings)
    """The hard ceilings on the risk limits (``TRADELANE_TRADING_CEILINGS``, the broker reads the same)."""
    render_limits: RenderLimits = DEFAULT_LIMITS
    """Limits of every prompt template render (validate, render, create and update)."""
    llm_daily_budget_usd: Decimal | None = None
    """The LLM spend allowed per UTC day (``TRADELANE_LLM_DAILY_BUDGET_USD``, the llm-analyst enforces it), or None."""
    health_window_seconds: float = HEALTH_WINDOW_SECONDS
    """How long the services' health gathers replies to its request (``TRADELANE_GATEWAY_HEALTH_WINDOW_SECONDS``)."""
