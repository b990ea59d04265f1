"""Reading an object back chunk by chunk with direct gets, as the object store wrote it."""

from __future__ import annotations

import os

import pytest
from nats.js.api import ObjectMeta, ObjectMetaOptions
from nats.js.errors import ObjectNotFoundError

from tradelane.contracts import subjects
from tradelane.runtime.bus import EventBus


async def test_an_object_of_many_chunks_reads_back_whole(bus: EventBus) -> None:
    data = os.urandom(10_000)
    store = await bus.object_store(subjects.CHART_BUCKET)
    await store.put(
        "many-chunks", data, meta=ObjectMeta(name="many-chunks", options=ObjectMetaOptions(max_chunk_size=3_000))
    )
    assert (await store.get_info("many-chunks")).chunks == 4
    assert await bus.read_object(subjects.CHART_BUCKET, "many-chunks") == data


async def test_an_empty_object_reads_back_empty(bus: EventBus) -> None:
    ref = await bus.put_object(b"", "text/plain")
    assert await bus.get_object(ref) == b""


async def test_an_object_written_again_reads_back_as_written_last(bus: EventBus) -> None:
    store = await bus.object_store(subjects.CHART_BUCKET)
    await store.put("rewritten", b"first version")
    await store.put("rewritten", b"second")
    assert await bus.read_object(subjects.CHART_BUCKET, "rewritten") == b"second"


async def test_a_deleted_or_unknown_object_is_not_found(bus: EventBus) -> None:
    ref = await bus.put_object(b"soon gone", "text/plain")
    await (await bus.object_store(ref.bucket)).delete(ref.name)
    with pytest.raises(ObjectNotFoundError):
        await bus.get_object(ref)
    with pytest.raises(ObjectNotFoundError):
        await bus.read_object(subjects.CHART_BUCKET, "never-stored")
