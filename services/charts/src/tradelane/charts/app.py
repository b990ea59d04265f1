"""Wiring of the charts service: one warm PNG renderer for the life of the process, busy on every page."""

from __future__ import annotations

import structlog

from tradelane.charts.config import ChartSettings
from tradelane.charts.handlers import ChartMaker
from tradelane.charts.renderer import ChromiumMissingError, PngRenderer
from tradelane.contracts.subjects import Step
from tradelane.runtime.service import Service

log = structlog.get_logger(__name__)


def build(settings: ChartSettings | None = None) -> Service:
    settings = settings or ChartSettings()
    service = Service("charts", settings)
    renderer = PngRenderer(browser_path=settings.chart_browser_path, pages=settings.chart_pages)
    maker = ChartMaker(
        service.bus, service.payloads, renderer, width=settings.chart_width, height=settings.chart_height
    )
    # one execution per page at a time, so that each page has a chart to render
    service.step(Step.CHART, workers=settings.chart_pages)(maker.on_indicators_computed)

    @service.on_start
    async def warm_renderer() -> None:
        service.resources.push_async_callback(renderer.close)
        try:
            await renderer.start()
        except ChromiumMissingError as error:
            # Charts without PNG still work; PNG requests fail with this same message.
            log.error("png_renderer_unavailable", error=str(error))

    return service
