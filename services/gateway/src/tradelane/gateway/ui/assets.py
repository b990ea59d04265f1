"""``/static/...``: the UI's own CSS and JavaScript and the vendored htmx, from a fixed list.

Only the files listed at import are served (no path from the request ever reaches the file
system), without a token: the login page needs them before anyone has logged in, and they
hold no data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from fastapi import APIRouter, HTTPException, status
from fastapi.responses import Response

router = APIRouter(include_in_schema=False)

STATIC: Final = Path(__file__).resolve().parent.parent / "static"
MEDIA_TYPES: Final = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
    ".md": "text/markdown",
    ".txt": "text/plain",
}
ASSETS: Final = {
    path.relative_to(STATIC).as_posix(): path for path in sorted(STATIC.rglob("*")) if path.suffix in MEDIA_TYPES
}


@router.get("/static/{asset:path}")
async def static_asset(asset: str) -> Response:
    path = ASSETS.get(asset)
    if path is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no static file {asset!r}")
    return Response(path.read_bytes(), media_type=MEDIA_TYPES[path.suffix], headers={"Cache-Control": "no-cache"})
