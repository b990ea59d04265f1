"""Security headers on every answer, including the errors the other layers send.

The default Content-Security-Policy lets a response load nothing at all (JSON needs nothing);
the web UI's pages send their own, allowing script and style from this origin only
(:mod:`tradelane.gateway.ui.templating`), and the AsyncAPI page names its inline script and
style by hash (:mod:`tradelane.gateway.routes.asyncapi`). API answers
are ``no-store`` unless a route says otherwise (chart artefacts are immutable and may be cached
privately).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from typing import Final

from tradelane.gateway.security.asgi import App, Message, Receive, Scope, Send

DEFAULT_CSP: Final = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
ALWAYS: Final = {
    b"x-content-type-options": b"nosniff",
    b"x-frame-options": b"DENY",
    b"referrer-policy": b"no-referrer",
    b"cross-origin-opener-policy": b"same-origin",
    b"cross-origin-resource-policy": b"same-origin",
}
UNLESS_SET: Final = {
    b"content-security-policy": DEFAULT_CSP.encode(),
    b"cache-control": b"no-store",
}


def inline_hashes(html: str, tag: str) -> str:
    """CSP sources for each inline ``<tag>`` element (one without attributes) of ``html``, by its SHA-256."""
    blocks = re.findall(rf"<{tag}>(.*?)</{tag}>", html, flags=re.DOTALL)
    return " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(block.encode()).digest()).decode()}'" for block in blocks
    )


def with_security_headers(raw: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """``raw`` response headers with the security headers added (a route's own CSP and caching kept)."""
    present = {key.lower() for key, _ in raw}
    kept = [(key, value) for key, value in raw if key.lower() not in ALWAYS]
    added = [(key, value) for key, value in UNLESS_SET.items() if key not in present]
    return kept + list(ALWAYS.items()) + added


class SecurityHeadersMiddleware:
    """Adds the headers to every HTTP answer; an unexpected error becomes a 500 that has them too."""

    def __init__(self, app: App) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = with_security_headers(list(message.get("headers", [])))
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            if not started:
                body = json.dumps({"detail": "internal error; the gateway's log has the details"}).encode()
                await send_with_headers(
                    {
                        "type": "http.response.start",
                        "status": 500,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
            raise
