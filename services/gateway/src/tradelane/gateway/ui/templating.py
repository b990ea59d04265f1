"""Rendering pages and fragments: the Jinja2 environment, its filters, and the pages' security policy."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any, Final

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

PAGE_POLICY: Final = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ]
)
"""Every page: script, style, images and requests from this origin only; nothing inline, no eval."""
CENT: Final = Decimal("0.01")
HUNDREDTH_OF_A_CENT: Final = Decimal("0.0001")
NAVIGATION: Final = (
    ("/", "dashboard", "Dashboard"),
    ("/strategies", "strategies", "Strategies"),
    ("/executions", "executions", "Executions"),
    ("/orders", "orders", "Orders"),
    ("/portfolio", "portfolio", "Portfolio"),
    ("/risk", "risk", "Risk"),
    ("/prompts", "prompts", "Prompts"),
    ("/symbols", "symbols", "Symbols"),
    ("/dead-letters", "dead-letters", "Dead letters"),
    ("/system", "system", "System"),
    ("/live-log", "live-log", "Live log"),
    ("/signals", "signals", "Signals"),
    ("/backtests", "backtests", "Backtests"),
)
"""The navigation bar: (path, page name, label) of every page, in order; a page is listed once it works."""


def moment(value: datetime | None) -> str:
    """A time as the operator reads it: UTC, to the second (``—`` when there is none)."""
    if value is None:
        return "—"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def milliseconds(value: float | None) -> str:
    """A duration in ms as ``840 ms`` or ``2.4 s``."""
    if value is None:
        return "—"
    return f"{value:.0f} ms" if value < 1000 else f"{value / 1000:.1f} s"


def duration(seconds: float | None) -> str:
    """A time span as ``45 s``, ``4 min 05 s``, ``3 h 02 min`` or ``2 d 04 h`` (``—`` when there is none)."""
    if seconds is None:
        return "—"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    if whole < 86400:
        return f"{whole // 3600} h {whole % 3600 // 60:02d} min"
    return f"{whole // 86400} d {whole % 86400 // 3600:02d} h"


def money(value: Decimal | None) -> str:
    """An amount to the cent with thousands separators (``—`` when there is none)."""
    if value is None:
        return "—"
    return f"{value.quantize(CENT, rounding=ROUND_HALF_EVEN):,}"


def cost(value: Decimal) -> str:
    """A model's estimated cost to a hundredth of a cent: one call costs a fraction of a cent."""
    return f"{value.quantize(HUNDREDTH_OF_A_CENT, rounding=ROUND_HALF_EVEN):,}"


templates: Final = Jinja2Templates(directory=Path(__file__).resolve().parent / "templates")
templates.env.filters.update(moment=moment, milliseconds=milliseconds, duration=duration, money=money, cost=cost)
templates.env.globals["navigation"] = NAVIGATION


def render(request: Request, template: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    """``template`` rendered with ``context``, under the pages' Content-Security-Policy."""
    response = templates.TemplateResponse(request, template, context, status_code=status_code)
    response.headers["Content-Security-Policy"] = PAGE_POLICY
    return response


def fragment(template: str, context: dict[str, Any]) -> str:
    """``template`` rendered to a string (for a Server-Sent Event)."""
    return templates.get_template(template).render(context)
