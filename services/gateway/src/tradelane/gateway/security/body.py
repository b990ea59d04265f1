"""The request body limit, and the body of each state-changing request read once for the audit.

A state-changing request's body is read whole here (it is at most the limit), kept for the
audit layer's digest and summary, and handed on to the route unchanged.
"""

from __future__ import annotations

from tradelane.gateway.security.asgi import App, Message, Receive, Scope, Send, changes_state, header, send_error
from tradelane.gateway.security.context import context_of


class BodyTooLargeError(Exception):
    pass


def too_large(size: str, limit: int) -> str:
    return f"the request body ({size}) is over the gateway's limit of {limit} bytes; send less"


async def read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole body, or None when the client went away; :class:`BodyTooLargeError` past ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = bytes(message.get("body", b""))
        size += len(chunk)
        if size > limit:
            raise BodyTooLargeError(f"more than {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


class BodyLimitMiddleware:
    """A 413 for a body over ``max_bytes``, by its Content-Length or by what actually arrives."""

    def __init__(self, app: App, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        context = context_of(scope)
        declared = header(scope, "content-length")
        if declared is not None and not declared.strip().isdigit():
            await send_error(send, 400, f"Content-Length {declared[:40]!r} is not a number of bytes")
            return
        if declared is not None and int(declared) > self.max_bytes:
            context.body_refused = too_large(f"{int(declared)} bytes", self.max_bytes)
            await send_error(send, 413, context.body_refused)
            return
        if not changes_state(scope):
            await self.app(scope, receive, send)
            return
        try:
            body = await read_body(receive, self.max_bytes)
        except BodyTooLargeError as error:
            context.body_refused = too_large(str(error), self.max_bytes)
            await send_error(send, 413, context.body_refused)
            return
        if body is None:
            return
        context.body = body
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
