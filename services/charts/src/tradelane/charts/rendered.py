"""Which PNG a figure was rendered to, so that the same figure again skips Chromium.

A figure is stored under the sha256 of its JSON, so equal figures share one name. Once one is
rendered, an empty note beside it in its bucket, ``png-of-<figure name>-<width>x<height>``, names
the PNG in its description (read with the object's info: no chunk to fetch). When the same figure
comes again at the same size (a backtest run again, a replay, two strategies charting the same
bars), the PNG is taken from the note instead of being drawn again: about a quarter of a CPU
second saved each time. Chromium draws a figure to the same picture every time, so nothing a
reader sees changes; and the image a model was sent stays the same bytes, which is what lets a
rerun's model answers come from the cache.

Either object may have left the bucket (its max age) or been deleted: then the figure is drawn
again and noted anew.
"""

from __future__ import annotations

from nats.js.api import ObjectMeta
from nats.js.errors import ObjectNotFoundError

from tradelane.contracts.market import ObjectRef
from tradelane.runtime.bus import EventBus

PNG_CONTENT_TYPE = "image/png"


class RenderedPngs:
    """Notes and finds the PNG each figure was rendered to, in the figure's own bucket."""

    def __init__(self, bus: EventBus) -> None:
        self._bus = bus

    async def find(self, figure: ObjectRef, width: int, height: int) -> ObjectRef | None:
        """The PNG ``figure`` was rendered to at this size, when it and its note are still stored."""
        try:
            note = await self._bus.object_info(figure.bucket, _note_name(figure, width, height))
            png = await self._bus.object_info(figure.bucket, note.description) if note.description else None
        except ObjectNotFoundError:
            return None
        if png is None or png.size is None:
            return None
        return ObjectRef(bucket=figure.bucket, name=png.name, size=png.size, content_type=PNG_CONTENT_TYPE)

    async def remember(self, figure: ObjectRef, width: int, height: int, png: ObjectRef) -> None:
        """Note that ``figure`` was rendered to ``png`` at this size."""
        store = await self._bus.object_store(figure.bucket)
        name = _note_name(figure, width, height)
        await store.put(name, b"", meta=ObjectMeta(name=name, description=png.name))


def _note_name(figure: ObjectRef, width: int, height: int) -> str:
    return f"png-of-{figure.name}-{width}x{height}"
