"""Step 4: draw the charts, keep their figure JSON and (when asked) PNGs in the Object Store.

The bars and indicator series come by reference, from the payload store.

One chart per timeframe: the strategy's bar size, then each extra analysis timeframe. Each
shows the strategy's ``chart_bars`` latest bars, with the indicators computed over the whole
history; the charts of one execution are drawn and rendered at once, on the renderer's pages.
A figure rendered before is not rendered again (:mod:`tradelane.charts.rendered`).
"""

from __future__ import annotations

import asyncio

from tradelane.charts.figure import Figure, build_figure, figure_json
from tradelane.charts.rendered import PNG_CONTENT_TYPE, RenderedPngs
from tradelane.charts.renderer import ChromiumFailedError, ChromiumMissingError, PngRenderer, RenderError
from tradelane.contracts.events import ChartRendered, IndicatorsComputed, TimeframeChart, TimeframeIndicators
from tradelane.contracts.market import ObjectRef
from tradelane.contracts.strategy import BarSize, StrategyDefinition
from tradelane.runtime.bus import EventBus
from tradelane.runtime.errors import PermanentStepError, TransientStepError
from tradelane.runtime.payloads import PayloadStore

FIGURE_CONTENT_TYPE = "application/vnd.plotly.v1+json"


class ChartMaker:
    """Builds one Plotly figure per timeframe and renders it with a warm, shared renderer."""

    def __init__(
        self, bus: EventBus, payloads: PayloadStore, renderer: PngRenderer, *, width: int, height: int
    ) -> None:
        self._bus = bus
        self._payloads = payloads
        self._renderer = renderer
        self._width = width
        self._height = height
        self._rendered = RenderedPngs(bus)

    async def on_indicators_computed(self, msg: IndicatorsComputed) -> ChartRendered:
        frames: list[TimeframeIndicators] = [msg, *msg.timeframes]
        try:
            async with asyncio.TaskGroup() as group:
                drawing = [group.create_task(self._chart(frame, msg.strategy)) for frame in frames]
        except ExceptionGroup as failed:
            # the first failure cancels the other charts and is the step's failure, as it is
            raise failed.exceptions[0] from None
        base, *extra = [task.result() for task in drawing]
        return msg.follow(
            ChartRendered,
            strategy=msg.strategy,
            snapshot=base.snapshot,
            figure=base.figure,
            png=base.png,
            timeframes=extra,
        )

    async def _chart(self, frame: TimeframeIndicators, strategy: StrategyDefinition) -> TimeframeChart:
        snapshot = frame.snapshot
        bars, series = await asyncio.gather(self._payloads.bars(frame.bars), self._payloads.series_arrays(frame.series))
        figure = build_figure(
            snapshot.symbol, snapshot.bar_size, bars, series, frame.patterns, window=strategy.chart_bars
        )
        figure_ref = await self._bus.put_object(figure_json(figure), FIGURE_CONTENT_TYPE)
        png_ref = await self._png(figure, figure_ref, snapshot.bar_size) if strategy.render_png else None
        return TimeframeChart(snapshot=snapshot, figure=figure_ref, png=png_ref)

    async def _png(self, figure: Figure, figure_ref: ObjectRef, bar_size: BarSize) -> ObjectRef:
        """The figure's PNG: the one it was rendered to before, else a new render."""
        size = {"width": self._width, "height": self._height}
        png_ref = await self._rendered.find(figure_ref, **size)
        if png_ref is not None:
            return png_ref
        try:
            png = await self._renderer.render(figure, **size)
        except ChromiumMissingError as error:
            raise PermanentStepError(str(error)) from error
        except (ChromiumFailedError, RenderError) as error:
            # the next render starts a fresh browser, so a retry may well succeed
            raise TransientStepError(f"PNG render of the {bar_size.value} chart failed: {error}") from error
        png_ref = await self._bus.put_object(png, PNG_CONTENT_TYPE)
        await self._rendered.remember(figure_ref, **size, png=png_ref)
        return png_ref
