"""The audit trail of the API: one row per state-changing request, refused ones included.

The row is written when the answer starts, before it reaches the client, so whoever sees the
answer can find the row. It names the token (when one was proven), the method and path, the
SHA-256 of the body with a short summary of it (values of secret-looking fields replaced by
``***``, long values cut), the status and the client's address. A row that cannot be written
is logged as an error; the change itself has already happened by then.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Final

import structlog

from tradelane.gateway.outage import POSTGRES_FAILED
from tradelane.gateway.security.asgi import App, Message, Receive, Scope, Send, changes_state
from tradelane.gateway.security.context import RequestContext, context_of
from tradelane.gateway.state import GatewayState
from tradelane.store.audit import AuditEntry

log = structlog.get_logger(__name__)

SECRET_WORDS: Final = ("token", "secret", "password", "api_key", "apikey", "authorization", "credential")
MAX_VALUE_CHARS: Final = 40
MAX_SUMMARY_CHARS: Final = 300


def storable(text: str) -> str:
    """``text`` as PostgreSQL can store it: NUL characters and lone surrogates written as escapes.

    The audit row records requests the API refuses, and those are where such characters come in.
    """
    return text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")


def _shown(key: str, value: Any) -> str:
    if any(word in key.lower() for word in SECRET_WORDS):
        return "***"
    if isinstance(value, dict):
        return "{…}"
    if isinstance(value, list):
        return f"[{len(value)} items]"
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"


def summarize(body: bytes | None, query: str = "") -> str:
    """A short, secret-free line about a request body: its top-level fields and short values."""
    parts = [f"?{query[:100]}"] if query else []
    if body:
        try:
            value = json.loads(body)
        except ValueError:
            value = None
            parts.append(f"{len(body)} bytes, not JSON")
        if isinstance(value, dict):
            parts.append(", ".join(f"{key}={_shown(str(key), item)}" for key, item in value.items()) or "{}")
        elif isinstance(value, list):
            parts.append(f"[{len(value)} items]")
        elif value is not None:
            parts.append(_shown("", value))
    summary = " ".join(parts)
    return summary if len(summary) <= MAX_SUMMARY_CHARS else summary[: MAX_SUMMARY_CHARS - 1] + "…"


def entry_for(scope: Scope, context: RequestContext, status: int) -> AuditEntry:
    """The audit row of a request, from what the security layers learnt about it."""
    token = context.principal.token if context.principal else None
    body = context.body
    client = scope.get("client")
    return AuditEntry(
        method=scope["method"],
        path=storable(scope["path"]),
        status=status,
        token_id=token.id if token else None,
        token_name=token.name if token else None,
        scope=token.scope.value if token else None,
        body_sha256=hashlib.sha256(body).hexdigest() if body is not None else None,
        summary=storable(context.body_refused or summarize(body, scope.get("query_string", b"").decode("latin-1"))),
        client=client[0] if client else None,
    )


class AuditMiddleware:
    """Writes an audit row for every POST, PUT, PATCH and DELETE, whatever its outcome."""

    def __init__(self, app: App) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not changes_state(scope):
            await self.app(scope, receive, send)
            return
        context = context_of(scope)
        recorded = False

        async def record(status: int) -> None:
            nonlocal recorded
            recorded = True
            state: GatewayState = scope["app"].state.gateway
            entry = entry_for(scope, context, status)
            try:
                await state.audit.append(entry)
            except POSTGRES_FAILED as error:
                log.error(
                    "audit_write_failed",
                    method=entry.method,
                    path=entry.path,
                    status=status,
                    token=entry.token_name,
                    error=f"{type(error).__name__}: {error}",
                )

        async def send_after_recording(message: Message) -> None:
            if message["type"] == "http.response.start" and not recorded:
                await record(int(message["status"]))
            await send(message)

        try:
            await self.app(scope, receive, send_after_recording)
        except Exception:
            if not recorded:
                await record(500)
            raise
