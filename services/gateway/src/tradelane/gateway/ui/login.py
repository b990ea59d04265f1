"""``/login``: the token form. The page's script posts the token to ``POST /api/session``.

The page is public and holds no data. The token goes only into that one request's JSON body,
never into a URL or the browser's storage; the session cookie that comes back is ``HttpOnly``.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from tradelane.gateway.ui.templating import render

router = APIRouter(include_in_schema=False)


@router.get("/login")
async def login_page(request: Request) -> HTMLResponse:
    return render(request, "login.html", {"viewer": None, "page": "login"})
