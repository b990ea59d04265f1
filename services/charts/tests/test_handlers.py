"""Step 4 as the service runs it: one chart per timeframe, kept in the real NATS object store."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from uuid import uuid4

import pytest

from tradelane.charts.handlers import ChartMaker
from tradelane.charts.renderer import PngRenderer
from tradelane.contracts.events import ChartRendered, IndicatorsComputed, TimeframeChart, TimeframeIndicators
from tradelane.contracts.market import Bar, MarketSnapshot, ResolvedSymbol
from tradelane.contracts.strategy import CHART_BARS, AnalysisSettings, BarSize, StrategyDefinition, SymbolRef
from tradelane.runtime.bus import EventBus
from tradelane.runtime.errors import PermanentStepError
from tradelane.runtime.payloads import PayloadStore

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


async def indicators(
    payloads: PayloadStore, symbol: ResolvedSymbol, bar_size: BarSize, bars: Sequence[Bar]
) -> dict[str, object]:
    snapshot = MarketSnapshot(
        symbol=symbol,
        bar_size=bar_size,
        last_bar_time=bars[-1].time,
        last_close=bars[-1].close,
        recent_bars=tuple(bars[-60:]),
        latest={},
        previous={},
    )
    window = await payloads.put_bars(symbol.conid, bar_size, bars)
    return {"bars": window, "series": await payloads.put_series({}), "snapshot": snapshot}


async def computed(
    payloads: PayloadStore,
    symbol: ResolvedSymbol,
    daily: Sequence[Bar],
    weekly: Sequence[Bar],
    *,
    png: bool,
    chart_bars: int = CHART_BARS,
) -> IndicatorsComputed:
    """Indicators as the indicators step publishes them: bars and (empty) series by reference."""
    strategy = StrategyDefinition(
        name="aapl",
        symbol=SymbolRef(symbol="AAPL"),
        render_png=png,
        chart_bars=chart_bars,
        analysis=AnalysisSettings(timeframes=(BarSize.WEEK_1,)),
    )
    return IndicatorsComputed.model_validate(
        {
            "execution_id": uuid4(),
            "strategy_id": uuid4(),
            "strategy": strategy,
            "timeframes": [
                TimeframeIndicators.model_validate(await indicators(payloads, symbol, BarSize.WEEK_1, weekly))
            ],
            **await indicators(payloads, symbol, BarSize.DAY_1, daily),
        }
    )


async def figure_of(bus: EventBus, chart: TimeframeChart) -> dict[str, Any]:
    figure: dict[str, Any] = json.loads(await bus.get_object(chart.figure))
    return figure


async def figure_title(bus: EventBus, chart: TimeframeChart) -> str:
    return str((await figure_of(bus, chart))["layout"]["title"]["text"])


async def candles(bus: EventBus, chart: TimeframeChart) -> int:
    [drawn] = [trace for trace in (await figure_of(bus, chart))["data"] if trace["name"] == "candles"]
    return len(drawn["close"])


@pytest.mark.chromium
async def test_each_timeframe_gets_its_own_figure_and_png(
    bus: EventBus, payloads: PayloadStore, symbol: ResolvedSymbol, bars: list[Bar], weekly_bars: list[Bar]
) -> None:
    async with PngRenderer() as renderer:
        maker = ChartMaker(bus, payloads, renderer, width=640, height=480)
        rendered = await maker.on_indicators_computed(await computed(payloads, symbol, bars, weekly_bars, png=True))
    [weekly] = rendered.timeframes
    assert (rendered.snapshot.bar_size, weekly.snapshot.bar_size) == (BarSize.DAY_1, BarSize.WEEK_1)
    assert "· 1 day ·" in await figure_title(bus, rendered)
    assert "· 1 week ·" in await figure_title(bus, weekly)
    assert rendered.png is not None
    assert weekly.png is not None
    assert rendered.png.name != weekly.png.name
    assert (await bus.get_object(weekly.png)).startswith(PNG_SIGNATURE)


async def test_no_timeframe_gets_a_png_when_the_strategy_does_not_render_them(
    bus: EventBus, payloads: PayloadStore, symbol: ResolvedSymbol, bars: list[Bar], weekly_bars: list[Bar]
) -> None:
    maker = ChartMaker(bus, payloads, PngRenderer(), width=640, height=480)
    rendered = await maker.on_indicators_computed(await computed(payloads, symbol, bars, weekly_bars, png=False))
    assert rendered.png is None
    assert [chart.png for chart in rendered.timeframes] == [None]
    assert "· 1 week ·" in await figure_title(bus, rendered.timeframes[0])


async def test_each_timeframe_shows_the_strategys_chart_bars(
    bus: EventBus, payloads: PayloadStore, symbol: ResolvedSymbol, bars: list[Bar], weekly_bars: list[Bar]
) -> None:
    maker = ChartMaker(bus, payloads, PngRenderer(), width=640, height=480)
    rendered = await maker.on_indicators_computed(
        await computed(payloads, symbol, bars, weekly_bars, png=False, chart_bars=50)
    )
    assert (len(bars), len(weekly_bars)) == (300, 60)
    assert await candles(bus, rendered) == 50
    assert await candles(bus, rendered.timeframes[0]) == 50


Market = tuple[ResolvedSymbol, list[Bar], list[Bar]]


@pytest.fixture
def market(symbol: ResolvedSymbol, bars: list[Bar], weekly_bars: list[Bar]) -> Market:
    """The symbol with its daily and weekly bars."""
    return symbol, bars, weekly_bars


async def charted_with_png(
    bus: EventBus,
    payloads: PayloadStore,
    renderer: PngRenderer,
    market: Market,
    *,
    width: int = 640,
    height: int = 480,
) -> ChartRendered:
    """The chart step's event for the daily and weekly ``market``, PNGs asked for."""
    symbol, daily, weekly = market
    maker = ChartMaker(bus, payloads, renderer, width=width, height=height)
    return await maker.on_indicators_computed(await computed(payloads, symbol, daily, weekly, png=True))


@pytest.mark.chromium
async def test_the_same_figure_again_takes_the_png_it_was_rendered_to(
    bus: EventBus, payloads: PayloadStore, market: Market
) -> None:
    async with PngRenderer() as renderer:
        first = await charted_with_png(bus, payloads, renderer, market)
    # no browser to render with: the PNG can only come from the first render
    without_browser = PngRenderer(browser_path="/nonexistent/chromium")
    again = await charted_with_png(bus, payloads, without_browser, market)
    assert again.execution_id != first.execution_id
    assert (again.figure, again.png) == (first.figure, first.png)
    assert [chart.png for chart in again.timeframes] == [chart.png for chart in first.timeframes]


@pytest.mark.chromium
async def test_a_figure_is_rendered_again_at_another_size_or_once_its_png_is_gone(
    bus: EventBus, payloads: PayloadStore, market: Market
) -> None:
    async with PngRenderer() as renderer:
        first = await charted_with_png(bus, payloads, renderer, market)
        assert first.png is not None
        larger = await charted_with_png(bus, payloads, renderer, market, width=800, height=600)
        assert larger.figure == first.figure
        assert larger.png is not None
        assert larger.png.name != first.png.name
        await (await bus.object_store(first.png.bucket)).delete(first.png.name)
        again = await charted_with_png(bus, payloads, renderer, market)
    assert again.png is not None
    assert (await bus.get_object(again.png)).startswith(PNG_SIGNATURE)


async def test_a_figure_never_rendered_needs_the_browser(
    bus: EventBus, payloads: PayloadStore, symbol: ResolvedSymbol, bars: list[Bar], weekly_bars: list[Bar]
) -> None:
    without_browser = PngRenderer(browser_path="/nonexistent/chromium")
    with pytest.raises(PermanentStepError, match=r"Chromium|browser"):
        await charted_with_png(bus, payloads, without_browser, (symbol, bars[:120], weekly_bars))
