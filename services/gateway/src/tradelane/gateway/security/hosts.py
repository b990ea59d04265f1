"""The Host allow-list: answer only requests addressed to a name this gateway is known by.

A page on another site can make a browser resolve the attacker's own name to 127.0.0.1 (DNS
rebinding) and then talk to the gateway as a same-origin page; its requests still carry the
attacker's name in ``Host``, which this refuses. The health probes are exempt: orchestrators
address them to the pod's IP, and they reveal nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from tradelane.gateway.security.asgi import App, Receive, Scope, Send, header, send_error

EXEMPT_PATHS: Final = frozenset({"/healthz", "/readyz"})
_MAX_SHOWN: Final = 80


def split_host(host: str) -> tuple[str, int | None]:
    """The name (lower case) and port of a ``Host`` header: ``[::1]:8000`` gives ``("::1", 8000)``."""
    host = host.strip().lower()
    if host.startswith("["):
        name, _, rest = host[1:].partition("]")
        port = rest.removeprefix(":")
    elif host.count(":") == 1:
        name, _, port = host.partition(":")
    else:
        name, port = host, ""
    return name, int(port) if port.isdigit() else None


def hostname_of(host: str) -> str:
    return split_host(host)[0]


def host_allowed(hostname: str, allowed: Iterable[str]) -> bool:
    """Whether ``hostname`` is in ``allowed``: exact names, ``*.example.com`` for subdomains, ``*`` for any."""
    for pattern in allowed:
        if pattern in ("*", hostname):
            return True
        if pattern.startswith("*.") and hostname.endswith(pattern[1:]) and len(hostname) > len(pattern) - 1:
            return True
    return False


class AllowedHostsMiddleware:
    """A 400 for a request whose Host is not allowed (or missing)."""

    def __init__(self, app: App, allowed: tuple[str, ...]) -> None:
        self.app = app
        self.allowed = tuple(pattern.lower() for pattern in allowed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in EXEMPT_PATHS:
            await self.app(scope, receive, send)
            return
        host = header(scope, "host")
        if host is None or not host_allowed(hostname_of(host), self.allowed):
            shown = "no Host header" if host is None else f"Host {host[:_MAX_SHOWN]!r}"
            await send_error(
                send,
                400,
                f"{shown} is not a name this gateway answers to (allowed: {', '.join(self.allowed)}); "
                "add it to TRADELANE_GATEWAY_ALLOWED_HOSTS if it should be",
            )
            return
        await self.app(scope, receive, send)
