"""``/api/session``: the web UI's login, who is logged in, and logout.

The UI never keeps a token: it sends the pasted token once, to ``POST /api/session``, and
gets back a cookie holding a random session id (``HttpOnly``, so page scripts cannot read
it; ``SameSite=Strict``, so other sites' requests do not carry it). The server keeps only the
id's SHA-256, tied to the token, so logging out ends that session alone, and revoking the
token ends all its sessions at once; a cookie carrying the token itself could do neither.
Changes made with the cookie must echo the session's CSRF token (``X-CSRF-Token``), which
only this origin's pages can read, from this route's answers.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from fastapi import APIRouter, HTTPException, Request, Response, status
from pydantic import BaseModel, Field

from tradelane.contracts.envelope import utc_now
from tradelane.gateway.config import GatewaySettings
from tradelane.gateway.deps import Caller, State
from tradelane.gateway.schemas import ErrorOut
from tradelane.gateway.security.access import CSRF_HEADER, SESSION_COOKIE, RefusedError, check_token
from tradelane.gateway.security.context import Principal, context_of
from tradelane.store.auth import Scope

router = APIRouter(prefix="/api/session", tags=["session"])


class LoginIn(BaseModel):
    token: str = Field(min_length=1, max_length=200, description="An API token (`tl_...`).")


class SessionOut(BaseModel):
    """Who is calling, and for the web UI, until when and with which CSRF token."""

    token_name: str
    scope: Scope = Field(description="read < operate < trade < admin; each includes those before it.")
    token_expires_at: datetime | None
    via: Literal["bearer", "session"] = Field(description="How the token was proven: a header, or the UI cookie.")
    session_expires_at: datetime | None = None
    csrf_token: str | None = Field(
        default=None, description=f"Send it in {CSRF_HEADER} with every change made with the session cookie."
    )


def _out(principal: Principal, session_expires_at: datetime | None = None) -> SessionOut:
    token = principal.token
    return SessionOut(
        token_name=token.name,
        scope=token.scope,
        token_expires_at=token.expires_at,
        via=principal.via,
        session_expires_at=session_expires_at,
        csrf_token=principal.csrf_token,
    )


@router.post(
    "",
    summary="Log in to the web UI",
    responses={status.HTTP_401_UNAUTHORIZED: {"model": ErrorOut, "description": "Unknown, revoked or expired."}},
)
async def log_in(body: LoginIn, request: Request, response: Response, state: State) -> SessionOut:
    """Trade a token for a session cookie; the token is not kept by the browser."""
    try:
        token = await check_token(state.tokens, body.token.strip())
    except RefusedError as refused:
        raise HTTPException(refused.status, refused.detail, refused.headers) from refused
    settings: GatewaySettings = request.app.state.settings
    previous = request.cookies.get(SESSION_COOKIE)
    if previous:
        await state.sessions.close(previous)
    opened = await state.sessions.open(token, now=utc_now(), lifetime=timedelta(hours=settings.gateway_session_hours))
    await state.tokens.touch(token.id)
    principal = Principal(token, "session", opened.record.csrf_token)
    context_of(request.scope).principal = principal
    response.set_cookie(
        SESSION_COOKIE,
        opened.session_id,
        max_age=max(1, int((opened.record.expires_at - utc_now()).total_seconds())),
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return _out(principal, opened.record.expires_at)


@router.get("", summary="Who is calling")
async def who(caller: Caller, request: Request, state: State) -> SessionOut:
    """The token's name and scope; for the web UI, its session's end and CSRF token."""
    if caller.via == "session":
        session = await state.sessions.find(request.cookies.get(SESSION_COOKIE, ""), now=utc_now())
        return _out(caller, session.expires_at if session else None)
    return _out(caller)


@router.delete("", status_code=status.HTTP_204_NO_CONTENT, summary="Log out of the web UI")
async def log_out(caller: Caller, request: Request, state: State) -> Response:
    """End this browser's session (the token stays valid) and drop its cookie."""
    if caller.via == "session":
        await state.sessions.close(request.cookies.get(SESSION_COOKIE, ""))
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response
