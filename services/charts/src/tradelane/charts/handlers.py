"""Step 4: draw the chart, keep its figure JSON and (when asked) its PNG in the Object Store."""

from __future__ import annotations

from tradelane.charts.figure import build_figure, figure_json
from tradelane.charts.renderer import ChromiumFailedError, ChromiumMissingError, PngRenderer, RenderError
from tradelane.contracts.events import ChartRendered, IndicatorsComputed
from tradelane.runtime.bus import EventBus
from tradelane.runtime.errors import PermanentStepError, TransientStepError

FIGURE_CONTENT_TYPE = "application/vnd.plotly.v1+json"


class ChartMaker:
    """Builds one Plotly figure per execution and renders it with a warm, shared renderer."""

    def __init__(self, bus: EventBus, renderer: PngRenderer, *, width: int, height: int) -> None:
        self._bus = bus
        self._renderer = renderer
        self._width = width
        self._height = height

    async def on_indicators_computed(self, msg: IndicatorsComputed) -> ChartRendered:
        figure = build_figure(msg.snapshot.symbol, msg.strategy.bar_size, msg.bars, msg.series, msg.patterns)
        figure_ref = await self._bus.put_object(figure_json(figure), FIGURE_CONTENT_TYPE)
        png_ref = None
        if msg.strategy.render_png:
            try:
                png = await self._renderer.render(figure, width=self._width, height=self._height)
            except ChromiumMissingError as error:
                raise PermanentStepError(str(error)) from error
            except (ChromiumFailedError, RenderError) as error:
                # the next render starts a fresh browser, so a retry may well succeed
                raise TransientStepError(f"PNG render failed: {error}") from error
            png_ref = await self._bus.put_object(png, "image/png")
        return msg.follow(ChartRendered, strategy=msg.strategy, snapshot=msg.snapshot, figure=figure_ref, png=png_ref)
