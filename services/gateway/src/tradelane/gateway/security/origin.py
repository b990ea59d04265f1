"""State changes only from this gateway's own pages, or from clients that are not browsers.

Browsers say where a request comes from: ``Sec-Fetch-Site`` (``same-origin``, ``same-site``,
``cross-site``, or ``none`` when the user typed it) and ``Origin``. A state-changing request
that a browser marks as coming from anywhere else is refused, whatever credentials it
carries; that stops a cross-site form POST even before authentication. ``same-site`` is
refused too, since another port on ``localhost`` is the same site. Clients that send
neither header (curl, scripts, the CLI) are not browsers and pass to authentication; a header
sent blank counts as not sent (a browser never sends one blank: an opaque origin is ``null``).
"""

from __future__ import annotations

from typing import Final
from urllib.parse import urlsplit

from tradelane.gateway.security.asgi import App, Receive, Scope, Send, changes_state, header, send_error
from tradelane.gateway.security.hosts import split_host

ALLOWED_FETCH_SITES: Final = frozenset({"same-origin", "none"})
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}


def same_origin(origin: str, host: str) -> bool:
    """Whether ``Origin`` names the host the request was sent to (``Host``), with the same port.

    A missing port is the default of the origin's scheme on both sides: behind a proxy that
    ends TLS the gateway itself sees plain HTTP, but the browser sent both headers over HTTPS.
    """
    try:
        parts = urlsplit(origin)
        origin_port = parts.port
    except ValueError:
        return False
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return False
    default = _DEFAULT_PORTS[parts.scheme]
    hostname, host_port = split_host(host)
    return parts.hostname == hostname and (origin_port or default) == (host_port or default)


def _present(value: str | None) -> str | None:
    """A header's value, or None when it is missing or blank."""
    return value if value is not None and value.strip() else None


class SameOriginMiddleware:
    """A 403 for a state-changing request a browser sent from another origin."""

    def __init__(self, app: App) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not changes_state(scope):
            await self.app(scope, receive, send)
            return
        site = _present(header(scope, "sec-fetch-site"))
        origin = _present(header(scope, "origin"))
        problem = None
        if site is not None and site.strip().lower() not in ALLOWED_FETCH_SITES:
            problem = f"Sec-Fetch-Site: {site[:40]}"
        elif origin is not None and not same_origin(origin, header(scope, "host") or ""):
            problem = f"Origin: {origin[:100]}"
        if problem is not None:
            await send_error(
                send,
                403,
                f"a {scope['method']} from another site is refused ({problem}); "
                "change things from this gateway's own web UI, or from a client that is not a browser",
            )
            return
        await self.app(scope, receive, send)
