"""``/``: the web UI, one static page that talks to the REST API.

The page itself is public (it holds no data; it asks for a token to log in). Its
Content-Security-Policy allows its own inline script and style by their SHA-256 and nothing
else inline, and lets it reach only this origin.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from tradelane.gateway.security.headers import inline_hashes

router = APIRouter(include_in_schema=False)

INDEX = Path(__file__).resolve().parent.parent / "static" / "index.html"


def page_policy(html: str) -> str:
    """The page's Content-Security-Policy: its inline script and style, this origin, nothing else."""
    return "; ".join(
        [
            "default-src 'none'",
            f"script-src {inline_hashes(html, 'script')}",
            f"style-src {inline_hashes(html, 'style')}",
            "img-src 'self'",
            "connect-src 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
        ]
    )


PAGE: Final = INDEX.read_text(encoding="utf-8")
PAGE_POLICY: Final = page_policy(PAGE)


@router.get("/")
async def index() -> HTMLResponse:
    return HTMLResponse(PAGE, headers={"Content-Security-Policy": PAGE_POLICY, "Cache-Control": "no-cache"})
