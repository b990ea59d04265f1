"""The chart figure: which panels and traces it draws for which series, and its JSON."""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import pickle
import re
import subprocess
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import plotly.graph_objects as go
import pytest

from tradelane.charts.figure import DEFAULT_HEIGHT, DEFAULT_WIDTH, Figure, build_figure, figure_json
from tradelane.contracts.market import Bar, PatternHit, ResolvedSymbol
from tradelane.contracts.strategy import AssetType, BarSize

Series = dict[str, list[float | None]]
MakeBars = Callable[..., list[Bar]]


def panel_titles(fig: Figure) -> list[str]:
    """Panel names top to bottom, read from each panel's legend title."""
    titles = []
    for row in range(1, 20):
        legend = fig["layout"].get("legend" if row == 1 else f"legend{row}")
        if legend is None:
            break
        titles.append(re.sub(r"</?b>", "", legend["title"]["text"]))
    return titles


def row_of(trace: dict[str, Any]) -> int:
    return int(trace["yaxis"][1:] or 1)


def traces(fig: Figure) -> dict[str, dict[str, Any]]:
    return {trace["name"]: trace for trace in fig["data"]}


def yaxis(fig: Figure, row: int) -> dict[str, Any]:
    axis: dict[str, Any] = fig["layout"]["yaxis" if row == 1 else f"yaxis{row}"]
    return axis


def chart(
    symbol: ResolvedSymbol,
    bars: Sequence[Bar],
    series: Series | None = None,
    patterns: Sequence[PatternHit] = (),
    bar_size: BarSize = BarSize.DAY_1,
) -> Figure:
    return build_figure(symbol, bar_size, bars, series or {}, patterns)


@pytest.fixture(scope="module")
def full_figure(symbol: ResolvedSymbol, bars: list[Bar], full_series: Series) -> Figure:
    return build_figure(symbol, BarSize.DAY_1, bars, full_series, [])


def test_every_series_gets_its_panel_in_the_original_order(full_figure: Figure) -> None:
    assert panel_titles(full_figure) == ["Price", "SuperTrend", "Volume", "MACD", "RSI 14", "OBV", "ATR 14"]


def test_each_panel_is_its_own_row_on_one_shared_time_axis(full_figure: Figure) -> None:
    assert {row_of(trace) for trace in full_figure["data"]} == set(range(1, 8))
    assert {trace["xaxis"] for trace in full_figure["data"]} == {"x"}
    assert [key for key in full_figure["layout"] if key.startswith("xaxis")] == ["xaxis"]
    assert {yaxis(full_figure, row)["anchor"] for row in range(1, 8)} == {"x"}


def test_time_axis_sits_under_the_bottom_panel(full_figure: Figure) -> None:
    assert full_figure["layout"]["xaxis"]["anchor"] == "y7"


def test_time_grid_is_drawn_although_bars_share_the_axis(full_figure: Figure) -> None:
    """plotly.js leaves out the grid of an axis bars stand on unless told to draw it."""
    assert full_figure["layout"]["xaxis"]["showgrid"] is True


def test_a_lone_price_panel_anchors_the_time_axis(symbol: ResolvedSymbol, make_bars: MakeBars) -> None:
    fig = chart(symbol, make_bars(60, volume=False))
    assert fig["layout"]["xaxis"]["anchor"] == "y"
    assert yaxis(fig, 1)["domain"] == [0.0, 1.0]


def test_panels_stack_top_to_bottom_from_edge_to_edge_with_gaps(full_figure: Figure) -> None:
    domains = [yaxis(full_figure, row)["domain"] for row in range(1, 8)]
    assert domains[0][1] == 1.0
    assert domains[-1][0] == 0.0
    for (bottom, _), (_, below_top) in itertools.pairwise(domains):
        assert 0 < bottom - below_top < 0.05


def test_price_panel_is_three_times_as_tall_as_the_others(full_figure: Figure) -> None:
    spans = [top - bottom for bottom, top in (yaxis(full_figure, row)["domain"] for row in range(1, 8))]
    assert spans[0] == pytest.approx(3 * spans[1], abs=1e-5)
    assert spans[1:] == pytest.approx([spans[1]] * 6, abs=1e-5)


def test_each_legend_sits_on_top_of_its_panel(full_figure: Figure) -> None:
    layout = full_figure["layout"]
    tops = [yaxis(full_figure, row)["domain"][1] for row in range(1, 8)]
    assert [layout["legend" if row == 1 else f"legend{row}"]["y"] for row in range(1, 8)] == tops


def test_traces_land_in_their_panels(full_figure: Figure) -> None:
    drawn = traces(full_figure)
    expected_rows = {
        "candles": 1,
        "sma_20": 1,
        "ema_9": 1,
        "bb_upper": 1,
        "bb_lower": 1,
        "bb_middle": 1,
        "supertrend up": 2,
        "supertrend down": 2,
        "volume": 3,
        "volume_ma_20": 3,
        "macd_hist": 4,
        "macd": 4,
        "macd_signal": 4,
        "rsi_14": 5,
        "obv": 6,
        "atr_14": 7,
    }
    assert {name: row_of(drawn[name]) for name in expected_rows} == expected_rows


def test_each_trace_is_listed_in_its_panels_legend(full_figure: Figure) -> None:
    for trace in full_figure["data"]:
        row = row_of(trace)
        assert trace["legend"] == ("legend" if row == 1 else f"legend{row}"), trace["name"]


def test_absent_series_leave_out_their_panels(symbol: ResolvedSymbol, bars: list[Bar], full_series: Series) -> None:
    series = {key: full_series[key] for key in ("sma_20", "rsi_14")}
    fig = chart(symbol, bars, series)
    assert panel_titles(fig) == ["Price", "Volume", "RSI 14"]
    assert set(traces(fig)) == {"candles", "sma_20", "volume", "rsi_14"}


def test_bars_without_volume_have_no_volume_panel(symbol: ResolvedSymbol, make_bars: MakeBars) -> None:
    fig = chart(symbol, make_bars(60, volume=False))
    assert panel_titles(fig) == ["Price"]


def test_unknown_series_are_left_out(symbol: ResolvedSymbol, bars: list[Bar]) -> None:
    fig = chart(symbol, bars, {"stoch_k": [50.0] * len(bars)})
    assert "stoch_k" not in traces(fig)
    assert panel_titles(fig) == ["Price", "Volume"]


def test_moving_averages_are_ordered_by_period(symbol: ResolvedSymbol, make_bars: MakeBars) -> None:
    few = make_bars(30)
    line: list[float | None] = [100.0] * 30
    fig = chart(symbol, few, {"sma_200": line, "ema_9": line, "wma_20_hl2": line, "sma_50": line})
    names = [trace["name"] for trace in fig["data"] if row_of(trace) == 1]
    assert names[1:] == ["ema_9", "wma_20_hl2", "sma_50", "sma_200"]


def test_bollinger_lower_band_fills_up_to_the_upper(full_figure: Figure) -> None:
    names = [trace["name"] for trace in full_figure["data"]]
    assert names.index("bb_lower") == names.index("bb_upper") + 1
    assert traces(full_figure)["bb_lower"]["fill"] == "tonexty"


def test_supertrend_is_green_where_up_and_red_where_down(full_figure: Figure, full_series: Series) -> None:
    drawn = traces(full_figure)
    up, down = drawn["supertrend up"], drawn["supertrend down"]
    assert up["line"]["color"] != down["line"]["color"]
    for value, direction, up_value, down_value in zip(
        full_series["supertrend"], full_series["supertrend_direction"], up["y"], down["y"], strict=True
    ):
        assert (up_value, down_value) == ((value, None) if direction == 1 else (None, value))


def test_supertrend_panel_shows_the_close(full_figure: Figure, bars: list[Bar]) -> None:
    close = traces(full_figure)["close"]
    assert row_of(close) == 2
    assert close["y"] == [bar.close for bar in bars]


def test_supertrend_without_direction_is_one_line(symbol: ResolvedSymbol, bars: list[Bar], full_series: Series) -> None:
    fig = chart(symbol, bars, {"supertrend": full_series["supertrend"]})
    assert {"supertrend"} <= set(traces(fig))
    assert "supertrend up" not in traces(fig)


def test_rsi_panel_has_its_overbought_and_oversold_lines(full_figure: Figure) -> None:
    levels = {shape["y0"] for shape in full_figure["layout"]["shapes"] if shape["yref"] == "y5"}
    assert levels == {30.0, 70.0}
    assert yaxis(full_figure, 5)["range"] == [0, 100]


def test_rsi_levels_can_be_set(symbol: ResolvedSymbol, bars: list[Bar], full_series: Series) -> None:
    fig = build_figure(symbol, BarSize.DAY_1, bars, {"rsi_14": full_series["rsi_14"]}, [], rsi_levels=(20, 80))
    rsi_row = panel_titles(fig).index("RSI 14") + 1
    assert {shape["y0"] for shape in fig["layout"]["shapes"] if shape["yref"] == f"y{rsi_row}"} == {20, 80}


def test_macd_histogram_is_coloured_by_sign(full_figure: Figure, full_series: Series) -> None:
    colours = traces(full_figure)["macd_hist"]["marker"]["color"]
    negative = {colour for colour, value in zip(colours, full_series["macd_hist"], strict=True) if value and value < 0}
    positive = {colour for colour, value in zip(colours, full_series["macd_hist"], strict=True) if value and value > 0}
    assert len(negative) == len(positive) == 1
    assert negative != positive


def test_max_min_and_average_close_are_annotated(full_figure: Figure, bars: list[Bar]) -> None:
    closes = [bar.close for bar in bars]
    texts = {annotation["text"] for annotation in full_figure["layout"]["annotations"]}
    assert f"Max {max(closes):,.2f}" in texts
    assert f"Min {min(closes):,.2f}" in texts
    assert f"Avg {sum(closes) / len(closes):,.2f}" in texts


def test_max_close_annotation_points_at_its_bar(full_figure: Figure, bars: list[Bar]) -> None:
    highest = max(bars, key=lambda bar: bar.close)
    annotation = next(a for a in full_figure["layout"]["annotations"] if a["text"].startswith("Max"))
    assert (annotation["x"], annotation["y"], annotation["yref"]) == (
        _milliseconds(highest.time),
        highest.close,
        "y",
    )


def test_patterns_are_marked_on_their_bars(symbol: ResolvedSymbol, bars: list[Bar]) -> None:
    hits = [
        PatternHit(pattern="CDLENGULFING", time=bars[-2].time, strength=100),
        PatternHit(pattern="CDLHAMMER", time=bars[-2].time, strength=100),
        PatternHit(pattern="CDLSHOOTINGSTAR", time=bars[-1].time, strength=-100),
    ]
    drawn = traces(chart(symbol, bars, patterns=hits))
    bullish, bearish = drawn["bullish pattern"], drawn["bearish pattern"]
    assert bullish["text"] == ["engulfing, hammer"]
    assert bearish["text"] == ["shootingstar"]
    assert bullish["y"][0] < bars[-2].low
    assert bearish["y"][0] > bars[-1].high
    assert (row_of(bullish), row_of(bearish)) == (1, 1)


def test_patterns_off_the_bars_are_left_out(symbol: ResolvedSymbol, bars: list[Bar]) -> None:
    elsewhere = PatternHit(pattern="CDLDOJI", time=bars[-1].time + timedelta(days=30), strength=100)
    assert "bullish pattern" not in traces(chart(symbol, bars, patterns=[elsewhere]))


def test_title_names_symbol_bar_size_and_last_close(full_figure: Figure, bars: list[Bar]) -> None:
    title = full_figure["layout"]["title"]["text"]
    assert title.startswith(f"AAPL · 1 day · last close {bars[-1].close:,.2f} USD")
    assert bars[-1].time.strftime("%Y-%m-%d") in title


def test_prices_carry_the_decimals_of_the_minimum_tick(make_bars: MakeBars) -> None:
    euro = ResolvedSymbol(
        conid=12087792, symbol="EUR", exchange="IDEALPRO", currency="USD", asset_type=AssetType.FOREX, min_tick=0.00005
    )
    few = make_bars(30)
    fig = chart(euro, few)
    assert f"last close {few[-1].close:,.5f} USD" in fig["layout"]["title"]["text"]


def test_daily_bars_hide_weekends(full_figure: Figure) -> None:
    assert full_figure["layout"]["xaxis"]["rangebreaks"] == [{"bounds": ["sat", "mon"]}]


def test_bars_on_weekends_keep_weekends(symbol: ResolvedSymbol, make_bars: MakeBars) -> None:
    every_day = make_bars(30, weekdays_only=False)
    assert "rangebreaks" not in chart(symbol, every_day)["layout"]["xaxis"]


def test_weekly_bars_keep_the_calendar(symbol: ResolvedSymbol, make_bars: MakeBars) -> None:
    weekly = make_bars(30, step=timedelta(weeks=1))
    assert "rangebreaks" not in chart(symbol, weekly, bar_size=BarSize.WEEK_1)["layout"]["xaxis"]


def test_times_are_drawn_in_utc(symbol: ResolvedSymbol, make_bars: MakeBars) -> None:
    """x is milliseconds since the epoch on a date axis, which plotly.js draws as UTC: 14:30 for 9:30 in New York."""
    new_york = make_bars(5, start=datetime(2024, 1, 2, 9, 30, tzinfo=ZoneInfo("America/New_York")))
    fig = chart(symbol, new_york, bar_size=BarSize.HOUR_1)
    assert fig["layout"]["xaxis"]["type"] == "date"
    assert (
        traces(fig)["candles"]["x"][0] == 1_704_205_800_000 == _milliseconds(datetime(2024, 1, 2, 14, 30, tzinfo=UTC))
    )


def test_missing_values_become_gaps(symbol: ResolvedSymbol, make_bars: MakeBars) -> None:
    few = make_bars(4)
    fig = chart(symbol, few, {"sma_2": [None, math.nan, math.inf, 101.0]})
    assert traces(fig)["sma_2"]["y"] == [None, None, None, 101.0]


def test_numpy_values_are_written_as_numbers_and_their_gaps_as_null(
    symbol: ResolvedSymbol, make_bars: MakeBars
) -> None:
    few = make_bars(3)
    values = list(np.array([np.nan, 100.5, np.inf], dtype=np.float32))
    text = figure_json(chart(symbol, few, {"sma_2": values})).decode()
    assert '"name":"sma_2"' in text
    assert ',"y":[null,100.5,null],' in text


def test_no_rangeslider_under_the_candles(full_figure: Figure) -> None:
    assert full_figure["layout"]["xaxis"]["rangeslider"]["visible"] is False


def test_default_size_and_template(full_figure: Figure) -> None:
    layout = full_figure["layout"]
    assert (layout["width"], layout["height"]) == (DEFAULT_WIDTH, DEFAULT_HEIGHT) == (1280, 1400)
    assert layout["template"]["layout"]["paper_bgcolor"] == "white"


def test_each_figure_has_its_own_template(symbol: ResolvedSymbol, make_bars: MakeBars) -> None:
    """The template is embedded as a copy: changing one figure's leaves the next figure's alone."""
    few = make_bars(5)
    chart(symbol, few)["layout"]["template"]["layout"]["paper_bgcolor"] = "black"
    assert chart(symbol, few)["layout"]["template"]["layout"]["paper_bgcolor"] == "white"


def test_plotly_accepts_the_figure(symbol: ResolvedSymbol, bars: list[Bar], full_series: Series) -> None:
    """Plotly validates every trace and layout property, which the figure module skips for speed."""
    hits = [
        PatternHit(pattern="CDLHAMMER", time=bars[-2].time, strength=100),
        PatternHit(pattern="CDLSHOOTINGSTAR", time=bars[-1].time, strength=-100),
    ]
    fig = build_figure(symbol, BarSize.DAY_1, bars, full_series, hits)
    validated = go.Figure(fig)
    assert len(validated.data) == len(fig["data"])
    assert validated.layout.legend7.title.text == "<b>ATR 14</b>"


def test_plotly_accepts_a_price_only_figure(symbol: ResolvedSymbol, make_bars: MakeBars) -> None:
    fig = chart(symbol, make_bars(60, volume=False))
    assert go.Figure(fig).layout.xaxis.anchor == "y"


def test_series_not_aligned_with_the_bars_are_refused(symbol: ResolvedSymbol, bars: list[Bar]) -> None:
    with pytest.raises(ValueError, match="rsi_14 do not have one value per bar"):
        chart(symbol, bars, {"rsi_14": [50.0] * (len(bars) - 1)})


def test_no_bars_are_refused(symbol: ResolvedSymbol) -> None:
    with pytest.raises(ValueError, match="at least one bar"):
        chart(symbol, [])


def test_a_window_shows_the_latest_bars_with_series_computed_over_every_bar(
    symbol: ResolvedSymbol, bars: list[Bar], full_series: Series
) -> None:
    """The 200-bar average of 300 bars has a value on the first of the 60 bars shown."""
    fig = build_figure(symbol, BarSize.DAY_1, bars, full_series, [], window=60)
    shown = traces(fig)
    assert shown["candles"]["close"] == [bar.close for bar in bars[-60:]]
    assert shown["candles"]["x"][0] == _milliseconds(bars[-60].time)
    assert shown["sma_200"]["y"] == full_series["sma_200"][-60:]
    assert shown["sma_200"]["y"][0] is not None


def test_a_window_wider_than_the_bars_shows_them_all(symbol: ResolvedSymbol, bars: list[Bar]) -> None:
    fig = build_figure(symbol, BarSize.DAY_1, bars, {}, [], window=len(bars) + 1)
    assert len(traces(fig)["candles"]["x"]) == len(bars)


def test_an_empty_window_is_refused(symbol: ResolvedSymbol, bars: list[Bar]) -> None:
    with pytest.raises(ValueError, match="at least one bar"):
        build_figure(symbol, BarSize.DAY_1, bars, {}, [], window=0)


def test_same_input_gives_the_same_json_bytes(
    symbol: ResolvedSymbol, bars: list[Bar], full_series: Series, full_figure: Figure
) -> None:
    hits = [PatternHit(pattern="CDLDOJI", time=bars[-1].time, strength=100)]
    first = figure_json(build_figure(symbol, BarSize.DAY_1, bars, full_series, hits))
    second = figure_json(build_figure(symbol, BarSize.DAY_1, bars, dict(reversed(full_series.items())), hits))
    assert hashlib.sha256(first).hexdigest() == hashlib.sha256(second).hexdigest()


def test_float64_arrays_with_nan_draw_the_figure_their_sequences_with_none_draw(
    symbol: ResolvedSymbol, bars: list[Bar], full_series: Series
) -> None:
    arrays = {key: np.array(values, dtype=np.float64) for key, values in full_series.items()}
    as_arrays = figure_json(build_figure(symbol, BarSize.DAY_1, bars, arrays, [], window=60))
    assert as_arrays == figure_json(build_figure(symbol, BarSize.DAY_1, bars, full_series, [], window=60))


def test_a_different_bar_gives_different_json(symbol: ResolvedSymbol, bars: list[Bar]) -> None:
    changed = [*bars[:-1], bars[-1].model_copy(update={"close": bars[-1].close + 0.01})]
    assert figure_json(chart(symbol, bars)) != figure_json(chart(symbol, changed))


def test_json_is_compact_with_keys_as_built(full_figure: Figure) -> None:
    text = figure_json(full_figure).decode()
    assert text.startswith('{"data":[{"type":"candlestick","x":[1672617600000,')
    assert ", " not in text[:200]
    assert "NaN" not in text


def test_every_process_writes_the_same_json_bytes(symbol: ResolvedSymbol, make_bars: MakeBars) -> None:
    """Keys are written in the order they were set: no dict of the figure, the template included, may take
    its order from a set, which changes with each process's hash seed."""
    few = make_bars(30)
    here = hashlib.sha256(figure_json(chart(symbol, few))).hexdigest()
    script = (
        "import hashlib, pickle, sys\n"
        "from tradelane.charts.figure import build_figure, figure_json\n"
        "from tradelane.contracts.strategy import BarSize\n"
        "symbol, bars = pickle.loads(sys.stdin.buffer.read())\n"
        "print(hashlib.sha256(figure_json(build_figure(symbol, BarSize.DAY_1, bars, {}, []))).hexdigest())\n"
    )
    for seed in ("1", "2"):
        there = subprocess.run(
            [sys.executable, "-c", script],
            input=pickle.dumps((symbol, few)),
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            check=True,
        )
        assert there.stdout.decode().strip() == here


def test_json_holds_the_figure_as_built(full_figure: Figure) -> None:
    assert json.loads(figure_json(full_figure)) == full_figure


def test_json_refuses_values_json_cannot_carry(full_figure: Figure) -> None:
    broken = {**full_figure, "layout": {**full_figure["layout"], "width": math.nan}}
    with pytest.raises(ValueError, match="not JSON compliant"):
        figure_json(broken)


def _milliseconds(time: datetime) -> int:
    return round(time.timestamp() * 1000)
