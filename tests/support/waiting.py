"""Wait for a condition, never for a time.

``eventually`` polls until a condition holds and fails naming what it waited for; a test
that means "nothing happens" says so with ``consistently``, which watches a condition for a
bounded time and fails the moment it breaks. A bare ``sleep`` before an assertion states
neither, and is too short on a loaded machine or needlessly long on a quiet one.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import TypeVar, overload

T = TypeVar("T")

POLL_SECONDS = 0.02
"""Between two looks at a condition: short next to every timeout, long next to a query."""


@overload
async def eventually(condition: Callable[[], Awaitable[T | None]], what: str, *, timeout: float = 15.0) -> T: ...


@overload
async def eventually(condition: Callable[[], T | None], what: str, *, timeout: float = 15.0) -> T: ...


async def eventually(condition: Callable[[], object], what: str, *, timeout: float = 15.0) -> object:
    """Poll ``condition`` (sync or async) until it returns something truthy, and return that.

    Raises AssertionError naming ``what`` and the last value seen when ``timeout`` seconds pass first.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        found = await _look(condition)
        if found:
            return found
        if loop.time() > deadline:
            raise AssertionError(f"waited {timeout} s for {what}; last seen: {found!r}")
        await asyncio.sleep(POLL_SECONDS)


async def consistently(condition: Callable[[], object], what: str, *, seconds: float) -> None:
    """Check that ``condition`` (sync or async) stays truthy for ``seconds``: the bounded wait of "nothing happens".

    Raises AssertionError naming ``what`` and the value seen the first time it does not hold.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        seen = await _look(condition)
        if not seen:
            raise AssertionError(f"{what} stopped holding after {seconds - (deadline - loop.time()):.2f} s: {seen!r}")
        if loop.time() > deadline:
            return
        await asyncio.sleep(POLL_SECONDS)


async def _look(condition: Callable[[], object]) -> object:
    value = condition()
    return await value if inspect.isawaitable(value) else value
