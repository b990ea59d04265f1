"""Wiring of the indicators service."""

from __future__ import annotations

from tradelane.contracts.subjects import Step
from tradelane.indicators.handlers import IndicatorCalculator
from tradelane.runtime.service import Service
from tradelane.runtime.settings import Settings


def build(settings: Settings | None = None) -> Service:
    service = Service("indicators", settings or Settings())
    service.step(Step.INDICATORS)(IndicatorCalculator(service.payloads).on_bars_fetched)
    return service
