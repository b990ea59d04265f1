"""Authentication and the scope policy, before any route runs.

A caller proves a token either with ``Authorization: Bearer <token>`` (the CLI, scripts) or
with the web UI's session cookie (see :mod:`tradelane.gateway.routes.session`). A request
with an ``Authorization`` header is judged by that header alone. A state change made with
the cookie must also carry the session's CSRF token in ``X-CSRF-Token``: the cookie is
``SameSite=Strict`` and the origin layer refuses cross-site requests, and this third lock
holds even if a browser gets one of those wrong.

A browser that opens a page without a live session (a GET that accepts ``text/html``) is
sent to the login page instead of getting the 401, with the page to come back to.

This runs as ASGI middleware rather than as a FastAPI dependency so that it answers before
FastAPI reads and validates the body: without a token, a malformed body is a 401, not a 422.
"""

from __future__ import annotations

import hmac
from typing import Final
from urllib.parse import quote

import structlog
from fastapi import HTTPException
from starlette.requests import HTTPConnection

from tradelane.contracts.envelope import utc_now
from tradelane.gateway.outage import POSTGRES, POSTGRES_FAILED, RETRY_AFTER, unavailable_detail
from tradelane.gateway.security.asgi import App, Receive, Scope, Send, changes_state, header, send_error
from tradelane.gateway.security.context import Principal, context_of
from tradelane.gateway.security.policy import RoutePolicy
from tradelane.gateway.state import GatewayState
from tradelane.store.auth import Scope as TokenScope
from tradelane.store.auth import TokenRecord, TokenRepository

log = structlog.get_logger(__name__)

SESSION_COOKIE: Final = "tradelane_session"
CSRF_HEADER: Final = "X-CSRF-Token"
REALM: Final = 'Bearer realm="tradelane"'
HOW_TO_GET_ONE: Final = "create one with `tradelane tokens create --name NAME --scope SCOPE`"
LOGIN_PAGE: Final = "/login"


class RefusedError(Exception):
    """The request may not go on: answer ``status`` with ``detail`` (and ``headers``)."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}


def unauthenticated(detail: str, *, invalid: bool = True) -> RefusedError:
    """A 401 with the RFC 6750 challenge; ``invalid`` when a credential was sent but is no good."""
    challenge = f'{REALM}, error="invalid_token"' if invalid else REALM
    return RefusedError(401, detail, {"WWW-Authenticate": challenge})


async def check_token(tokens: TokenRepository, secret: str) -> TokenRecord:
    """The live token whose secret this is; a 401 saying why not (unknown, revoked, expired)."""
    token = await tokens.find(secret)
    if token is None:
        raise unauthenticated(f"unknown API token; {HOW_TO_GET_ONE}")
    problem = token.problem(utc_now())
    if problem is not None:
        raise unauthenticated(f"{problem}; {HOW_TO_GET_ONE}")
    return token


async def authenticate(state: GatewayState, connection: HTTPConnection) -> Principal:
    """Who is calling, from the bearer header or else the session cookie; a 401 when neither proves a token."""
    authorization = connection.headers.get("authorization")
    if authorization is not None:
        kind, _, secret = authorization.partition(" ")
        if kind.lower() != "bearer" or not secret.strip():
            raise unauthenticated("the Authorization header must be 'Bearer <token>'")
        return Principal(await check_token(state.tokens, secret.strip()), "bearer")
    session_id = connection.cookies.get(SESSION_COOKIE)
    if session_id:
        session = await state.sessions.find(session_id, now=utc_now())
        if session is None:
            raise unauthenticated("your web UI session has ended; log in again")
        problem = session.token.problem(utc_now())
        if problem is not None:
            raise unauthenticated(f"your web UI session has ended: {problem}; log in again")
        return Principal(session.token, "session", session.csrf_token)
    raise unauthenticated(
        f"this needs an API token: send 'Authorization: Bearer <token>' ({HOW_TO_GET_ONE})", invalid=False
    )


def authorize(principal: Principal, needed: TokenScope, action: str) -> None:
    """A 403 naming the scope needed when the caller's token does not cover it."""
    token = principal.token
    if not token.scope.covers(needed):
        raise RefusedError(
            403,
            f"{action} needs a token with scope '{needed}' (or above); token {token.name!r} has scope '{token.scope}'",
            {"WWW-Authenticate": f'{REALM}, error="insufficient_scope", scope="{needed}"'},
        )


def require_scope(principal: Principal, needed: TokenScope, action: str) -> None:
    """In a route: an HTTP 403 naming the scope needed, for what a request asks in its body or query.

    The policy table decides by method and path before the route runs; a route calls this when
    one of its arguments asks for more (switching ``auto_trade`` on, a replay that may trade).
    """
    try:
        authorize(principal, needed, action)
    except RefusedError as refused:
        raise HTTPException(refused.status, refused.detail, refused.headers) from refused


def check_csrf(principal: Principal, connection: HTTPConnection) -> None:
    """A state change through a UI session must echo the session's CSRF token."""
    if principal.via != "session" or principal.csrf_token is None:
        return
    sent = connection.headers.get(CSRF_HEADER, "")
    if not hmac.compare_digest(sent.encode(), principal.csrf_token.encode()):
        raise RefusedError(
            403, f"a change made with the web UI session needs its {CSRF_HEADER} header; reload the page and retry"
        )


def wants_page(scope: Scope) -> bool:
    """Whether a browser is navigating to a page (rather than a script or an API client asking for data)."""
    return scope["method"] in {"GET", "HEAD"} and "text/html" in (header(scope, "accept") or "")


async def send_to_login(send: Send, scope: Scope) -> None:
    """A 303 to the login page, which comes back to the page asked for once logged in."""
    back = quote(scope["path"] + (f"?{scope['query_string'].decode('latin-1')}" if scope.get("query_string") else ""))
    await send(
        {
            "type": "http.response.start",
            "status": 303,
            "headers": [(b"location", f"{LOGIN_PAGE}?next={back}".encode("latin-1")), (b"content-length", b"0")],
        }
    )
    await send({"type": "http.response.body", "body": b""})


class AccessMiddleware:
    """Lets a request through only with a live token whose scope covers the route's (see the policy)."""

    def __init__(self, app: App, policy: RoutePolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        needed, path = self.policy.required(scope["method"], scope["path"])
        if needed is None:
            await self.app(scope, receive, send)
            return
        state: GatewayState = scope["app"].state.gateway
        connection = HTTPConnection(scope)
        try:
            principal = await authenticate(state, connection)
            await state.tokens.touch(principal.token.id)
        except RefusedError as refused:
            if refused.status == 401 and wants_page(scope):
                await send_to_login(send, scope)
                return
            await send_error(send, refused.status, refused.detail, refused.headers)
            return
        except POSTGRES_FAILED as error:
            log.error("token_check_failed", error=f"{type(error).__name__}: {error}")
            detail = f"cannot check the API token now: {unavailable_detail(POSTGRES, error)}"
            await send_error(send, 503, detail, RETRY_AFTER)
            return
        context_of(scope).principal = principal
        try:
            if changes_state(scope):
                check_csrf(principal, connection)
            authorize(principal, needed, f"{scope['method']} {path or scope['path']}")
        except RefusedError as refused:
            await send_error(send, refused.status, refused.detail, refused.headers)
            return
        await self.app(scope, receive, send)
