"""The warm PNG renderer: one Chromium, many figures."""

from __future__ import annotations

import asyncio
import os
import signal
import struct
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests.support.waiting import eventually
from tradelane.charts.figure import DEFAULT_HEIGHT, DEFAULT_WIDTH, Figure, build_figure
from tradelane.charts.renderer import ChromiumFailedError, ChromiumMissingError, PngRenderer
from tradelane.contracts.market import Bar, ResolvedSymbol
from tradelane.contracts.strategy import BarSize

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(png: bytes) -> tuple[int, int]:
    """Width and height from the PNG's IHDR chunk, which always comes first."""
    assert png[12:16] == b"IHDR"
    width, height = struct.unpack(">II", png[16:24])
    return width, height


def crash_chromium_under(launcher: int) -> None:
    """Kill the Chromium that kaleido's launcher process started, as a crash would."""
    children = Path(f"/proc/{launcher}/task/{launcher}/children").read_text().split()
    assert children, "kaleido's launcher has no Chromium under it"
    for child in children:
        os.kill(int(child), signal.SIGKILL)


async def gone(pid: int) -> None:
    """Wait until process ``pid`` has exited and been reaped (kaleido's watchdog reaps it)."""
    await eventually(lambda: not _exists(pid), f"process {pid} to be reaped", timeout=20)


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def renderer() -> AsyncIterator[PngRenderer]:
    async with PngRenderer() as started:
        yield started


@pytest.fixture(scope="module")
def chart(symbol: ResolvedSymbol, bars: list[Bar], full_series: dict[str, list[float | None]]) -> Figure:
    return build_figure(symbol, BarSize.DAY_1, bars, full_series, [])


@pytest.fixture(scope="module")
def small_chart(symbol: ResolvedSymbol, bars: list[Bar]) -> Figure:
    return build_figure(symbol, BarSize.DAY_1, bars[:60], {}, [])


@pytest.mark.chromium
async def test_renders_a_png_of_the_requested_size(renderer: PngRenderer, chart: Figure) -> None:
    png = await renderer.render(chart, width=DEFAULT_WIDTH, height=DEFAULT_HEIGHT)
    assert png.startswith(PNG_SIGNATURE)
    assert png_size(png) == (1280, 1400)


@pytest.mark.chromium
async def test_renders_many_figures_with_one_browser(renderer: PngRenderer, small_chart: Figure) -> None:
    browser = renderer.browser_pid
    sizes = [png_size(await renderer.render(small_chart, width=400 + 100 * step, height=300)) for step in range(3)]
    assert sizes == [(400, 300), (500, 300), (600, 300)]
    assert renderer.browser_pid == browser is not None


@pytest.mark.chromium
async def test_concurrent_renders_all_complete(renderer: PngRenderer, small_chart: Figure) -> None:
    pngs = await asyncio.gather(*(renderer.render(small_chart, width=320, height=240 + step) for step in range(3)))
    assert [png_size(png) for png in pngs] == [(320, 240), (320, 241), (320, 242)]


@pytest.mark.chromium
async def test_a_browser_that_exited_is_replaced_on_the_next_render(renderer: PngRenderer, small_chart: Figure) -> None:
    exited = renderer.browser_pid
    assert exited is not None
    crash_chromium_under(exited)
    await gone(exited)
    png = await renderer.render(small_chart, width=320, height=240)
    assert png_size(png) == (320, 240)
    assert renderer.browser_pid not in {None, exited}


@pytest.mark.chromium
async def test_close_lets_the_renders_in_progress_on_every_page_finish(small_chart: Figure) -> None:
    renderer = PngRenderer(pages=2)
    await renderer.start()
    rendering = [asyncio.create_task(renderer.render(small_chart, width=320, height=240)) for _ in range(2)]
    await asyncio.sleep(0)  # each render takes its page before it first waits
    await renderer.close()
    assert [png_size(await render) for render in rendering] == [(320, 240), (320, 240)]
    assert renderer.browser_pid is None


async def test_a_missing_browser_is_reported_with_what_to_do(tmp_path: Path) -> None:
    absent = tmp_path / "chromium"
    with pytest.raises(ChromiumMissingError, match="make setup") as raised:
        await PngRenderer(browser_path=absent).start()
    assert f"no Chromium found at {str(absent)!r}" in str(raised.value)
    assert "BROWSER_PATH" in str(raised.value)


async def test_a_missing_browser_path_from_the_environment_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BROWSER_PATH", str(tmp_path / "chrome"))
    with pytest.raises(ChromiumMissingError, match="at BROWSER_PATH="):
        await PngRenderer().start()


async def test_render_reports_a_missing_browser_too(tmp_path: Path, small_chart: Figure) -> None:
    """A renderer whose start failed keeps failing the same way, so each PNG request says why."""
    with pytest.raises(ChromiumMissingError):
        await PngRenderer(browser_path=tmp_path / "chromium").render(small_chart, width=320, height=240)


@pytest.mark.chromium
async def test_an_executable_that_is_no_browser_fails_to_start(tmp_path: Path) -> None:
    not_a_browser = tmp_path / "chromium"
    not_a_browser.write_text("#!/bin/sh\nexit 1\n")
    not_a_browser.chmod(0o755)
    with pytest.raises(ChromiumFailedError, match="did not start"):
        await PngRenderer(browser_path=not_a_browser).start()


async def test_render_after_close_is_refused(small_chart: Figure) -> None:
    closed = PngRenderer()
    await closed.close()
    with pytest.raises(RuntimeError, match="after close"):
        await closed.render(small_chart, width=320, height=240)
