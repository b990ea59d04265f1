"""Wiring of the market-data service."""

from __future__ import annotations

import structlog

from tradelane.contracts.subjects import Step
from tradelane.market_data.config import MarketDataSettings
from tradelane.market_data.handlers import BarsFetcher
from tradelane.market_data.simulated import SimulatedProvider
from tradelane.runtime.service import Service

log = structlog.get_logger(__name__)


def build(settings: MarketDataSettings | None = None) -> Service:
    settings = settings or MarketDataSettings()
    provider = SimulatedProvider()
    service = Service("market-data", settings)
    service.step(Step.MARKET_DATA)(BarsFetcher(provider).on_execution_requested)

    @service.on_start
    async def say_which_provider() -> None:
        log.info("market_data_provider_selected", provider=provider.name)

    return service
