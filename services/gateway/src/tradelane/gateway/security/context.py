"""What the security layers learn about one request, shared between them through the ASGI scope.

The audit layer writes its row after the inner layers have run, so they leave here what it
needs: the body they read and the caller they authenticated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from starlette.requests import HTTPConnection

from tradelane.gateway.security.asgi import Scope
from tradelane.store.auth import TokenRecord

_KEY: Final = "tradelane.security"


@dataclass(frozen=True)
class Principal:
    """The caller: the token it proved it holds, and how (a bearer header or a UI session cookie)."""

    token: TokenRecord
    via: Literal["bearer", "session"]
    csrf_token: str | None = None
    """The session's CSRF token (sessions only)."""


@dataclass
class RequestContext:
    principal: Principal | None = None
    body: bytes | None = None
    """The whole body of a state-changing request, once the body layer has read it."""
    body_refused: str | None = None
    """Why the body layer refused the body (too large), for the audit summary."""


def context_of(scope: Scope) -> RequestContext:
    """This request's context, created on first use."""
    context = scope.get(_KEY)
    if context is None:
        context = scope[_KEY] = RequestContext()
    assert isinstance(context, RequestContext)
    return context


def principal_of(connection: HTTPConnection) -> Principal:
    """The authenticated caller of a route (every route but the public ones has one)."""
    principal = context_of(connection.scope).principal
    if principal is None:  # pragma: no cover - the access layer lets no unauthenticated call through
        raise LookupError(f"{connection.url.path} reached without a principal; is it public in the policy?")
    return principal
