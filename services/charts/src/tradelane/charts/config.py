"""Settings of the charts service."""

from __future__ import annotations

from pydantic import Field

from tradelane.charts.figure import DEFAULT_HEIGHT, DEFAULT_WIDTH
from tradelane.charts.renderer import DEFAULT_PAGES
from tradelane.runtime.settings import Settings


class ChartSettings(Settings):
    chart_width: int = Field(default=DEFAULT_WIDTH, ge=320, le=4096, description="PNG width in pixels.")
    chart_height: int = Field(default=DEFAULT_HEIGHT, ge=240, le=4096, description="PNG height in pixels.")
    chart_browser_path: str | None = Field(default=None, description="Chromium to render with (default: found).")
    chart_pages: int = Field(
        default=DEFAULT_PAGES,
        ge=1,
        le=16,
        description="Pages of the one Chromium that render at once, one per core; the step handles as many "
        "executions at once.",
    )
