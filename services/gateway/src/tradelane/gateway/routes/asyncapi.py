"""``/asyncapi.json`` and ``/asyncapi``: the AsyncAPI document of the bus, as data and as a page.

The document is FastStream's, generated from the flow table of :mod:`tradelane.runtime.flow`
(the gateway imports no service). It describes the bus, not its data, but like
``/openapi.json`` it needs the ``read`` scope. The page is FastStream's AsyncAPI viewer, which
loads its script and stylesheet from a CDN: its Content-Security-Policy allows exactly those
two files and the page's own inline script and style, and nothing else.
"""

from __future__ import annotations

from functools import cache
from typing import Any, Final

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from faststream.specification import Specification, get_asyncapi_html
from faststream.specification.asyncapi.site import ASYNCAPI_CSS_DEFAULT_URL, ASYNCAPI_JS_DEFAULT_URL

from tradelane.gateway.security.headers import inline_hashes
from tradelane.runtime.asyncapi import flow_specification

router = APIRouter(include_in_schema=False)

VIEWER_SCRIPT: Final = ASYNCAPI_JS_DEFAULT_URL
VIEWER_STYLESHEET: Final = ASYNCAPI_CSS_DEFAULT_URL


@cache
def specification(version: str, nats_url: str) -> Specification:
    """The document of release ``version`` (the flow is fixed for a release, so it is built once)."""
    return flow_specification(version, nats_url.split(","))


@cache
def page(version: str, nats_url: str) -> str:
    """The viewer page of the document: no "try it out" (publishing goes through the REST API)."""
    return get_asyncapi_html(specification(version, nats_url), try_it_out_path=None)


def page_policy(html: str) -> str:
    """The page's Content-Security-Policy: the viewer's two CDN files, its inline script and style, no connections.

    The viewer sets style attributes as it renders, hence ``'unsafe-inline'`` for styles only.
    """
    return "; ".join(
        [
            "default-src 'none'",
            f"script-src {VIEWER_SCRIPT} {inline_hashes(html, 'script')}",
            f"style-src {VIEWER_STYLESHEET} 'unsafe-inline'",
            "img-src 'self' data:",
            "font-src data:",
            "form-action 'none'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
        ]
    )


def _release(request: Request) -> tuple[str, str]:
    """The gateway's version and the NATS servers it is configured with."""
    settings = request.app.state.settings
    return settings.service_version, settings.nats_url


@router.get("/asyncapi.json")
async def asyncapi_document(request: Request) -> dict[str, Any]:
    """The AsyncAPI 3.0 document: every subject, who publishes and who consumes it, and its contract."""
    document: dict[str, Any] = specification(*_release(request)).to_jsonable()
    return document


@router.get("/asyncapi")
async def asyncapi_page(request: Request) -> HTMLResponse:
    """The AsyncAPI document rendered by FastStream's viewer."""
    html = page(*_release(request))
    return HTMLResponse(html, headers={"Content-Security-Policy": page_policy(html), "Cache-Control": "no-cache"})
