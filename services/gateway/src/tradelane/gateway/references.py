"""The payloads a recorded message refers to (the claim check), found by their shape and resolved.

The lineage records each message as it was published: bars as a :class:`BarsWindow`, indicator
series as an :class:`ObjectRef` to the payload bucket. A reader of a step wants what they refer
to, so the gateway finds every reference anywhere in the message, whatever its event type (the
timeframes of a multi-timeframe event hold references too), and fetches it from the payload
store. A message recorded before the claim check carries its bars inline and has no reference.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any, Final

from pydantic import ValidationError

from tradelane.contracts.market import ObjectRef
from tradelane.contracts.payloads import BarsWindow
from tradelane.contracts.subjects import PAYLOAD_BUCKET
from tradelane.runtime.payloads import PayloadMissingError, PayloadStore

BARS_WINDOW_KEYS: Final = frozenset({"chunks", "sha256", "bar_size", "conid"})
OBJECT_REF_KEYS: Final = frozenset({"bucket", "name", "size", "content_type"})

Reference = BarsWindow | ObjectRef


def references(message: Any) -> Iterator[Reference]:
    """Every bars window and every payload-bucket object reference in ``message``, depth first.

    An object of a reference's shape that does not validate as one is no reference: it is
    left as recorded.
    """
    if isinstance(message, list):
        for item in message:
            yield from references(item)
    elif isinstance(message, dict):
        reference = _reference(message)
        if reference is not None:
            yield reference
            return
        for value in message.values():
            yield from references(value)


def _reference(value: dict[str, Any]) -> Reference | None:
    try:
        if value.keys() >= BARS_WINDOW_KEYS:
            return BarsWindow.model_validate(value)
        if value.keys() >= OBJECT_REF_KEYS and value["bucket"] == PAYLOAD_BUCKET:
            return ObjectRef.model_validate(value)
    except ValidationError:
        return None
    return None


def key_of(reference: Reference) -> str:
    """The name a reference's content goes under: a window's sha256, an object's name."""
    return reference.sha256 if isinstance(reference, BarsWindow) else reference.name


async def resolve(message: Any, store: PayloadStore) -> dict[str, Any]:
    """What each reference in ``message`` holds, under :func:`key_of` it: a window's bars (oldest first,
    as JSON) or the indicator series; ``{"missing": reason}`` for content the store no longer has."""
    found = {key_of(reference): reference for reference in references(message)}
    contents = await asyncio.gather(*(_content(reference, store) for reference in found.values()))
    return dict(zip(found, contents, strict=True))


async def _content(reference: Reference, store: PayloadStore) -> Any:
    try:
        if isinstance(reference, BarsWindow):
            return [bar.model_dump(mode="json") for bar in await store.bars(reference)]
        return await store.series(reference)
    except PayloadMissingError as error:
        return {"missing": str(error)}
