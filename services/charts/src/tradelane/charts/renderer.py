"""PNG export of Plotly figures through one long-lived headless Chromium (kaleido >= 1).

Figures are the plain dicts ``tradelane.charts.figure`` builds; kaleido takes a figure dict
as it is and sends it to plotly.js, so nothing here goes through ``plotly.graph_objects``.

``fig.to_image()`` starts a browser for every image (2-3.7 s here). ``PngRenderer`` starts
one ``kaleido.Kaleido`` with a page per core and renders every figure in one of them: the
pages run in renderer processes of their own, so two pages render two figures at once on two
cores (1.8 times the renders per second of one page, measured). A render waits, first come
first served, for a free page; what bounds that queue is the caller (the charts step takes at
most one message per page from JetStream, which holds the rest). Kaleido's Chromium runs
with ``--headless --no-sandbox --disable-gpu`` by default (choreographer turns the sandbox on
only when asked), which is what a root or container user needs, so no extra flags are passed.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self, cast

import kaleido
import structlog
from kaleido.errors import ChromeNotFoundError

from tradelane.charts.figure import Figure

log = structlog.get_logger(__name__)

RELOAD_EVERY: Final = 100
"""Renders of one page between two reloads of it; reloading bounds what a long-lived page accumulates."""
DEFAULT_PAGES: Final = 2
"""Pages rendering at once: one per core of the two-core machine tradelane is sized for."""


class ChromiumMissingError(RuntimeError):
    """No Chromium (or Chrome) executable was found where kaleido looks for one."""

    def __init__(self, where: str) -> None:
        super().__init__(
            f"no Chromium found {where}; install Debian's `chromium` (`make setup` does it) "
            "or set BROWSER_PATH (read by kaleido's choreographer) to a Chromium or Chrome executable"
        )


class ChromiumFailedError(RuntimeError):
    """A Chromium executable was found but did not start."""


class RenderError(RuntimeError):
    """The browser failed to render one figure; the next render starts a fresh browser."""


class _WarmKaleido(kaleido.Kaleido):  # type: ignore[misc]  # kaleido ships no type information
    """Kaleido that keeps its pages loaded between renders.

    Kaleido reloads a page after every render: that costs about 0.2 s and leaves plotly.js
    cold for the next figure, together about 40 % of a render of a full chart here. This
    subclass reloads a page only every ``RELOAD_EVERY`` renders of it. It overrides a private
    kaleido method (checked against kaleido 1.5); a failed render never reuses the page,
    because ``PngRenderer`` then closes the browser.
    """

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._renders_since_reload: dict[Any, int] = {}

    async def _return_kaleido_tab(self, tab: Any) -> None:
        renders = self._renders_since_reload.get(tab, 0) + 1
        if renders >= RELOAD_EVERY:
            self._renders_since_reload[tab] = 0
            await super()._return_kaleido_tab(tab)
        else:
            self._renders_since_reload[tab] = renders
            await self.tabs_ready.put(tab)


class PngRenderer:
    """Renders Plotly figures to PNG in one headless Chromium, started once and reused.

    The browser has ``pages`` pages; each render has one to itself, and renders beyond
    ``pages`` wait for one in the order they came. ``start`` launches the browser ahead of
    the first render; when it has not (it failed, or was not called), the browser has died,
    or a render failed, ``render`` starts a new one itself, so a missing Chromium is reported
    by every render that needs it.
    """

    def __init__(
        self, *, browser_path: str | Path | None = None, pages: int = DEFAULT_PAGES, timeout: float = 30.0
    ) -> None:
        """``browser_path`` overrides kaleido's search (``BROWSER_PATH``, then ``PATH``)."""
        if pages < 1:
            msg = f"a renderer needs at least one page, not {pages}"
            raise ValueError(msg)
        self._browser_path = browser_path
        self._pages = pages
        self._timeout = timeout
        self._kaleido: _WarmKaleido | None = None
        self._closed = False
        self._lock = asyncio.Lock()
        """Held while the browser is launched, replaced or closed; never during a render."""
        self._rendering = 0
        self._idle = asyncio.Event()
        self._idle.set()

    async def start(self) -> None:
        """Launch the browser and load plotly.js into its pages (a few seconds, once).

        Raises ChromiumMissingError when no browser is found, ChromiumFailedError when the
        one found does not start.
        """
        async with self._lock:
            self._closed = False
            if self._kaleido is None:
                await self._launch()

    async def render(self, figure: Figure, *, width: int, height: int) -> bytes:
        """The figure (a Plotly figure dict) as PNG bytes of ``width`` x ``height`` pixels.

        Raises ChromiumMissingError or ChromiumFailedError when it has to start a browser and
        cannot; RenderError when the browser fails on this figure (the browser is closed, which
        fails the renders it was doing too, and the next render starts a new one); RuntimeError
        after ``close``.
        """
        browser = await self._browser_for_a_render()
        try:
            return await self._calc(browser, figure, width=width, height=height)
        except Exception as error:
            # kaleido and choreographer raise a dozen unrelated types from the browser side;
            # each means the browser can no longer be trusted
            await self._discard(browser)
            msg = f"Chromium failed to render the figure: {error}"
            raise RenderError(msg) from error
        finally:
            self._rendering -= 1
            if not self._rendering:
                self._idle.set()

    @property
    def browser_pid(self) -> int | None:
        """Process id of the running browser (kaleido's launcher process), None when there is none."""
        return None if self._kaleido is None else int(self._kaleido.subprocess.pid)

    async def close(self) -> None:
        """Refuse new renders, let the renders in progress finish, then close the browser."""
        async with self._lock:
            self._closed = True
        await self._idle.wait()
        async with self._lock:
            await self._stop()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def _browser_for_a_render(self) -> _WarmKaleido:
        """The running browser, counted as rendering: launched when there is none, replaced when it has exited."""
        async with self._lock:
            if self._closed:
                msg = "PngRenderer.render() after close(): start() it again first"
                raise RuntimeError(msg)
            if self._kaleido is not None and _exited(self._kaleido.subprocess):
                log.warning("chromium_exited", returncode=self._kaleido.subprocess.returncode)
                await self._stop()
            if self._kaleido is None:
                await self._launch()
            assert self._kaleido is not None
            self._rendering += 1
            self._idle.clear()
            return self._kaleido

    async def _discard(self, browser: _WarmKaleido) -> None:
        """Close ``browser`` unless another render has already replaced it."""
        async with self._lock:
            if self._kaleido is browser:
                await self._stop()

    async def _calc(self, browser: _WarmKaleido, figure: Figure, *, width: int, height: int) -> bytes:
        """Render in a task of its own: kaleido cancels its renders' tasks when its browser dies."""
        opts = {"format": "png", "width": width, "height": height}
        rendering = asyncio.create_task(browser.calc_fig(figure, opts=opts))
        try:
            png = await rendering
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if rendering.cancelled() and current is not None and current.cancelling() == 0:
                msg = "the browser closed during the render"
                raise RuntimeError(msg) from None
            raise
        return cast("bytes", png)

    async def _launch(self) -> None:
        started = time.perf_counter()
        try:
            browser = _WarmKaleido(path=self._browser_path, n=self._pages, mathjax=False, timeout=self._timeout)
        except ChromeNotFoundError as error:
            raise ChromiumMissingError(self._where()) from error
        try:
            await browser.open()
        except Exception as error:
            await browser.close()
            reason = error.args[0] if error.args else type(error).__name__
            msg = f"Chromium {self._where()} did not start: {reason}"
            raise ChromiumFailedError(msg) from error
        self._kaleido = browser
        log.info(
            "chromium_started",
            pid=self.browser_pid,
            pages=self._pages,
            seconds=round(time.perf_counter() - started, 2),
        )

    async def _stop(self) -> None:
        browser, self._kaleido = self._kaleido, None
        if browser is not None:
            await browser.close()

    def _where(self) -> str:
        if self._browser_path is not None:
            return f"at {str(self._browser_path)!r}"
        if browser_path := os.environ.get("BROWSER_PATH"):
            return f"at BROWSER_PATH={browser_path!r}"
        return "on PATH (as chromium, google-chrome, ...)"


def _exited(launcher: Any) -> bool:
    """Whether the browser's launcher process (a ``subprocess.Popen``) has exited.

    ``poll()`` answers None while another thread is reaping the process (kaleido's watchdog waits on it), so a
    render that came just after a crash went to the dead browser and failed; a process that is no longer there
    has exited too.
    """
    if launcher.poll() is not None:
        return True
    try:
        os.kill(launcher.pid, 0)
    except ProcessLookupError:
        return True
    return False
