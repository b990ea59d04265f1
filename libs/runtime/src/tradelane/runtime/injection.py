"""What a handler takes from FastStream's context, resolved on the event loop.

FastStream's ``Context`` is a fast_depends custom field whose ``use`` is a plain function, and
fast_depends runs a custom field's plain ``use`` in a worker thread (``run_async`` ->
``run_in_threadpool``); it awaits a coroutine ``use`` where it is. So every message of every
handler with a ``Context`` parameter (``recorder: Annotated[LineageRecorder, Context("recorder")]``,
``message: NatsMessage``) paid a thread hop for a dictionary look-up: about a tenth of the
lineage's CPU. This ``Context`` is FastStream's with a coroutine ``use`` (handlers are coroutines, as
fast_depends then requires). Import it, and :data:`NatsMessage`, from here: ruff bans FastStream's.
"""

from __future__ import annotations

from typing import Annotated, Any

# the class FastStream's public ``faststream.Context()`` builds (its handler introspection knows it), only
# importable from ``faststream._internal``
from faststream._internal.context import Context as ThreadedContext
from faststream.nats.message import NatsMessage as _NatsMessage


class Context(ThreadedContext):
    """FastStream's ``Context``, looked up on the event loop instead of in a worker thread."""

    async def use(self, /, **kwargs: Any) -> dict[str, Any]:  # type: ignore[override]  # fast_depends awaits it
        return super().use(**kwargs)


NatsMessage = Annotated[_NatsMessage, Context("message")]
"""The message being handled, as a handler parameter (FastStream's ``faststream.nats.annotations.NatsMessage``)."""
