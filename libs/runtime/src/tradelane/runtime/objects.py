"""Object Store reads and writes in as few requests to the server as the format allows.

Every execution stores and reads a few objects (its bars, its indicator series, its chart), so
their cost is paid per execution, and a backtest makes thousands. nats-py's ``ObjectStore``
pays more than it needs to: ``get_info`` is a JetStream API request (whose answer carries the
message base64-encoded in JSON), ``put`` looks the name up once more before it writes, and
``get`` creates an ordered consumer for each object and deletes it after. Here:

- an object's info is one direct get of the last message on its meta subject;
- its chunks are direct gets of the next message on its chunk subject, checked against the
  digest in its info, as ``get`` checks them;
- a write publishes the chunks (larger ones: :data:`CHUNK_SIZE`), then the info (with the rollup
  header that replaces an older info of the same name), as ``put`` does, without a second lookup.

A content-addressed object (named by the sha256 of its bytes, as every artefact tradelane stores is)
that fits one chunk is stored on the chunk subject of its name rather than of a random nuid, with
the rollup header, so that the subject holds that one message: its reader asks for that chunk
straight away, one request instead of two, and needs no info to check it (its name is its digest).
An object another client wrote, a deleted or an expired one is not there: the reader then goes the
way of the info, and finds the object, or that it is not stored.

The layout is nats-py's (and every NATS client's): ``$O.<bucket>.C.<nuid>`` for the chunks,
``$O.<bucket>.M.<base64url name>`` for the info, a ``SHA-256=`` digest, so objects written here
are read by any client and the other way round (the nuid an info names is only an identifier).
"""

from __future__ import annotations

import base64
import hashlib
import json
from contextlib import suppress
from datetime import UTC, datetime
from typing import Final

import nats.errors
from nats.js import JetStreamContext, api
from nats.js.errors import DigestMismatchError, NotFoundError, ObjectNotFoundError
from nats.js.kv import MSG_ROLLUP_SUBJECT
from nats.nuid import NUID

from tradelane.contracts import subjects

CHUNK_SIZE: Final = 512 * 1024
"""The size of the chunks objects are written in here (the last one is shorter).

nats-py writes 128 KiB chunks, which split an execution's indicator series and its chart
(about 160 KB each) in two: one more message stored, synced to disk and read back per object.
512 KiB holds either whole and stays under NATS's default ``max_payload`` (1 MB), for a server
not configured as tradelane's own are (8 MB). Readers take any chunk size: the info names it.
"""

_SHA256_HEX_DIGITS: Final = 64

_nuids = NUID()
"""Names of chunk subjects: a new one for each object written, so a rewritten name never mixes chunks."""


def meta_subject(bucket: str, name: str) -> str:
    """The subject whose last message is the info of object ``name`` of ``bucket``."""
    return f"$O.{bucket}.M.{base64.urlsafe_b64encode(name.encode()).decode()}"


def chunk_subject(bucket: str, nuid: str) -> str:
    """The subject an object's chunks are stored on, in order."""
    return f"$O.{bucket}.C.{nuid}"


def object_digest(sha256: bytes) -> str:
    """An object's digest as the object store writes it in the object's info, from the sha256 of its bytes."""
    return "SHA-256=" + base64.urlsafe_b64encode(sha256).decode()


async def object_info(js: JetStreamContext, bucket: str, name: str) -> api.ObjectInfo:
    """The info of object ``name`` of ``bucket``; ObjectNotFoundError when it is not stored, or deleted."""
    try:
        message = await js.get_msg(subjects.object_stream(bucket), subject=meta_subject(bucket, name), direct=True)
    except NotFoundError:
        raise ObjectNotFoundError from None
    info: api.ObjectInfo = api.ObjectInfo.from_response(json.loads(message.data or b"{}"))
    if info.deleted:
        raise ObjectNotFoundError
    return info


def _content_addressed_chunk(name: str, data: bytes | memoryview, sha256: bytes) -> bool:
    """Whether an object is stored on the chunk subject of its name: named by its digest, in one chunk."""
    return 0 < len(data) <= CHUNK_SIZE and name == sha256.hex()


async def _read_content_addressed(js: JetStreamContext, bucket: str, name: str) -> bytes | None:
    """The bytes of a content-addressed object from the chunk subject of its name; None when they are not there
    (or are not what the name says), and the info has to tell."""
    if len(name) != _SHA256_HEX_DIGITS:
        return None
    try:
        chunk = await js.get_msg(
            subjects.object_stream(bucket), seq=1, subject=chunk_subject(bucket, name), direct=True, next=True
        )
    except NotFoundError:
        return None
    data = chunk.data or b""
    return data if hashlib.sha256(data).hexdigest() == name else None


async def read_object(js: JetStreamContext, bucket: str, name: str) -> bytes:
    """The bytes of object ``name`` of ``bucket``; ObjectNotFoundError when it is not (or no longer) stored,
    DigestMismatchError when its chunks do not add up to the digest its info names."""
    addressed = await _read_content_addressed(js, bucket, name)
    if addressed is not None:
        return addressed
    info = await object_info(js, bucket, name)
    chunks = chunk_subject(bucket, info.nuid)
    data = bytearray()
    sequence = 0
    for _ in range(info.chunks or 0):
        try:
            chunk = await js.get_msg(
                subjects.object_stream(bucket), seq=sequence + 1, subject=chunks, direct=True, next=True
            )
        except NotFoundError:
            raise ObjectNotFoundError from None  # purged (replaced or expired) since its info was read
        data += chunk.data or b""
        sequence = chunk.seq or sequence + 1
    if object_digest(hashlib.sha256(data).digest()) != info.digest:
        raise DigestMismatchError
    return bytes(data)


async def write_object(
    js: JetStreamContext, bucket: str, name: str, data: bytes, description: str, *, sha256: bytes
) -> None:
    """Store ``data`` as object ``name`` of ``bucket``, a name not stored yet (the caller looked it up).

    ``sha256`` is the digest of ``data``, which the caller has at hand (a content-addressed name is made from it):
    the info carries it, and hashing a chart or a series again costs as much as the first time.

    A name written twice at once (two writers that both found it missing) ends with the info of
    the last, and the other's chunks are left to the bucket's max age, as with nats-py's ``put``.
    A failed write removes the chunks it stored, so no info ever names chunks that are not there;
    but for the chunk of a content-addressed object (see the module): another writer of the same
    bytes may have named it already, and it holds what its name says, whoever reads it.
    """
    stream = subjects.object_stream(bucket)
    content_addressed = _content_addressed_chunk(name, data, sha256)
    nuid = name if content_addressed else _nuids.next().decode()
    chunks = chunk_subject(bucket, nuid)
    # the one chunk of a content-addressed object replaces any copy of itself a concurrent writer stored
    headers: dict[str, str] | None = {api.Header.ROLLUP: MSG_ROLLUP_SUBJECT} if content_addressed else None
    view = memoryview(data)
    count = 0
    try:
        for start in range(0, len(data), CHUNK_SIZE):
            await js.publish(chunks, bytes(view[start : start + CHUNK_SIZE]), stream=stream, headers=headers)
            count += 1
        info = api.ObjectInfo(
            name=name,
            bucket=bucket,
            nuid=nuid,
            size=len(data),
            mtime=datetime.now(UTC).isoformat(),
            chunks=count,
            digest=object_digest(sha256),
            description=description,
            options=api.ObjectMetaOptions(max_chunk_size=CHUNK_SIZE),
        )
        await js.publish(
            meta_subject(bucket, name),
            json.dumps(info.as_dict()).encode(),
            stream=stream,
            headers={api.Header.ROLLUP: MSG_ROLLUP_SUBJECT},
        )
    except Exception:
        if not content_addressed:
            with suppress(nats.errors.Error, TimeoutError):  # the write's own error is the one to report
                await js.purge_stream(stream, subject=chunks)
        raise
