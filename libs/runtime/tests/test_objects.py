"""Object Store reads and writes by direct gets and plain publishes, in the layout every NATS client uses."""

from __future__ import annotations

import hashlib
import os

import nats.js.errors
import pytest
from nats.js.api import ObjectMeta, ObjectMetaOptions
from nats.js.errors import ObjectNotFoundError

from tradelane.contracts import subjects
from tradelane.runtime import objects
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


async def test_an_object_put_here_is_read_whole_by_nats_py(bus: EventBus) -> None:
    data = os.urandom(2 * objects.CHUNK_SIZE + 1_000)
    ref = await bus.put_object(data, "application/octet-stream")
    store = await bus.object_store(ref.bucket)
    info = await store.get_info(ref.name)
    assert (info.name, info.size, info.chunks, info.description) == (
        hashlib.sha256(data).hexdigest(),
        len(data),
        3,
        "application/octet-stream",
    )
    assert (await store.get(ref.name)).data == data
    assert await bus.get_object(ref) == data


async def test_putting_the_same_bytes_again_writes_nothing(bus: EventBus) -> None:
    ref = await bus.put_object(b"once", "text/plain")
    stream = subjects.object_stream(ref.bucket)
    stored = (await bus.jetstream.stream_info(stream)).state.messages
    assert await bus.put_object(b"once", "text/plain") == ref
    assert (await bus.jetstream.stream_info(stream)).state.messages == stored


async def test_a_deleted_object_put_again_is_stored_again(bus: EventBus) -> None:
    ref = await bus.put_object(b"back again", "text/plain")
    await (await bus.object_store(ref.bucket)).delete(ref.name)
    assert await bus.put_object(b"back again", "text/plain") == ref
    assert await bus.get_object(ref) == b"back again"


async def test_the_info_of_an_object_names_its_description(bus: EventBus) -> None:
    ref = await bus.put_object(b"described", "text/plain")
    info = await bus.object_info(ref.bucket, ref.name)
    assert (info.description, info.size, info.chunks) == ("text/plain", 9, 1)


async def test_a_write_to_a_bucket_that_does_not_exist_fails_with_the_publish_error(bus: EventBus) -> None:
    with pytest.raises(nats.js.errors.NoStreamResponseError):
        await objects.write_object(
            bus.jetstream, "no-such-bucket", "name", b"data", "text/plain", sha256=hashlib.sha256(b"data").digest()
        )


async def test_a_content_addressed_object_is_read_from_the_chunk_subject_of_its_name(bus: EventBus) -> None:
    """One request: the chunk is where its name says, and its name is its digest, so no info is needed."""
    ref = await bus.put_object(b"addressed by content", "text/plain")
    stream = subjects.object_stream(ref.bucket)
    stored = await bus.jetstream.get_msg(stream, subject=objects.chunk_subject(ref.bucket, ref.name), direct=True)
    assert stored.data == b"addressed by content"
    await bus.jetstream.purge_stream(stream, subject=objects.meta_subject(ref.bucket, ref.name))
    assert await bus.get_object(ref) == b"addressed by content"


async def test_the_same_bytes_written_twice_leave_one_chunk(bus: EventBus) -> None:
    data = os.urandom(1_000)
    sha256 = hashlib.sha256(data).digest()
    for _ in range(2):  # two writers that both found the name missing
        await objects.write_object(bus.jetstream, subjects.CHART_BUCKET, sha256.hex(), data, "x", sha256=sha256)
    state = await bus.jetstream.stream_info(subjects.object_stream(subjects.CHART_BUCKET), subjects_filter=">")
    chunks = objects.chunk_subject(subjects.CHART_BUCKET, sha256.hex())
    assert state.state.subjects is not None
    assert state.state.subjects[chunks] == 1
    assert await bus.read_object(subjects.CHART_BUCKET, sha256.hex()) == data


async def test_a_chunk_that_is_not_what_its_name_says_is_not_read(bus: EventBus) -> None:
    """Bytes on the chunk subject of a name that are not that name's content: the info decides."""
    name = hashlib.sha256(b"the real content").hexdigest()
    await bus.jetstream.publish(
        objects.chunk_subject(subjects.CHART_BUCKET, name),
        b"something else",
        stream=subjects.object_stream(subjects.CHART_BUCKET),
    )
    with pytest.raises(ObjectNotFoundError):
        await bus.read_object(subjects.CHART_BUCKET, name)
