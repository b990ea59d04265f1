"""Fixtures every test may use: real NATS and PostgreSQL servers, and clients of them.

By default they are the embedded servers, started on free ports (NATS) and a Unix socket
(PostgreSQL). ``TRADELANE_TEST_NATS_URL`` / ``TRADELANE_TEST_DATABASE_URL`` point the suite at
existing servers instead; each test then gets its own database and clean streams.

The embedded NATS runs with the production permissions (anonymous clients refused): each
test's ``settings`` carry a credentials file with every identity's password, so each service
a test starts connects as its own identity (``create_broker(settings, name)`` picks the entry
for ``name``) and provisions through the ``provision`` identity, which the file also holds.
The test's own clients (``nats_client``, ``nats_broker``, ``bus``) connect as ``test``, an
identity that only test servers have and that may do anything: it stands in for the services
upstream and downstream of the one under test. An external ``TRADELANE_TEST_NATS_URL`` server
is used without users.
"""

from __future__ import annotations

import contextlib
import os
import signal
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import nats
import pytest
from faststream.nats import NatsBroker
from nats.aio.client import Client as NatsClient
from nats.js.errors import NotFoundError
from pydantic import SecretStr

from tradelane.cli.embedded import EmbeddedNats, EmbeddedPostgres
from tradelane.runtime.bus import EventBus
from tradelane.runtime.bus_credentials import credentials_for, load_or_create_credentials
from tradelane.runtime.bus_permissions import IDENTITIES, Permissions
from tradelane.runtime.payloads import PayloadStore
from tradelane.runtime.service import create_broker
from tradelane.runtime.settings import Settings
from tradelane.runtime.streams import OBJECT_STORES, provision
from tradelane.store.auth import Scope, TokenRepository
from tradelane.store.migrate import migrate
from tradelane.store.pool import create_pool

TEST_POSTGRES_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
"""The embedded test server's durability: none. Its data lives for one session in a temporary directory and
no test pulls its power (those that kill a PostgreSQL start ``tradelane up``, with its own server, pinned to
``POSTGRES_DURABILITY``); waiting for the disk at each commit and each database created or dropped would only
slow every test down."""


@pytest.fixture(scope="session")
async def postgres_server_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """DSN of a PostgreSQL server for the whole session (embedded unless told otherwise)."""
    external = os.environ.get("TRADELANE_TEST_DATABASE_URL")
    if external:
        yield external
        return
    server = EmbeddedPostgres(tmp_path_factory.mktemp("pg") / "data")
    dsn = server.start("postgres")
    admin = await asyncpg.connect(dsn)
    try:
        for name, value in TEST_POSTGRES_SETTINGS.items():
            await admin.execute(f"ALTER SYSTEM SET {name} = '{value}'")  # our constants
        await admin.execute("SELECT pg_reload_conf()")
    finally:
        await admin.close()
    yield dsn
    server.stop()


@pytest.fixture(scope="session")
async def migrated_template(postgres_server_url: str) -> AsyncIterator[str]:
    """The name of a database migrated once for the session, which every test's database is a copy of.

    Copying it (``CREATE DATABASE ... TEMPLATE``) takes a fraction of running the migrations in
    each new database. Nobody may connect to it: a template with a session open cannot be copied.
    """
    name = f"t_template_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(postgres_server_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        pool = await create_pool(_with_database(postgres_server_url, name))
        try:
            await migrate(pool)
        finally:
            await pool.close()
        await admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        yield name
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture
async def database_url(postgres_server_url: str, migrated_template: str) -> AsyncIterator[str]:
    """A fresh, migrated database for one test, dropped afterwards."""
    async with fresh_database(postgres_server_url, migrated_template) as dsn:
        yield dsn


@asynccontextmanager
async def fresh_database(postgres_server_url: str, template: str) -> AsyncIterator[str]:
    """A new database on the server, a copy of the migrated ``template``, dropped when the block ends
    (for fixtures of any scope)."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(postgres_server_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        yield _with_database(postgres_server_url, name)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def _with_database(dsn: str, name: str) -> str:
    """``dsn`` with its database replaced by ``name`` (works for socket and TCP DSNs)."""
    head, _, tail = dsn.partition("?")
    base = head.rsplit("/", 1)[0]
    return f"{base}/{name}" + (f"?{tail}" if tail else "")


TEST_IDENTITY = "test"
"""The tests' own NATS user: only test servers have it, and it may do anything."""
TEST_PERMISSIONS = Permissions(publish=(">",), subscribe=(">",), allow_responses=True)
TEST_SYNC_INTERVAL = "2m"
"""How often a test server's JetStream flushes to disk: nats-server's default, not before each acknowledgement
as ``tradelane up``'s does (``SYNC_INTERVAL``). A test's machine does not lose power mid-test, and a server
killed outright keeps what the page cache holds; a flush per message and per stream or consumer created
would only slow every test down."""


@pytest.fixture
def nats_credentials_file(tmp_path: Path) -> Path | None:
    """Every identity's NATS password (and the test identity's), as ``tradelane up`` keeps them; None: no users."""
    return credentials_file(tmp_path)


@pytest.fixture
def nats_options(nats_credentials_file: Path | None) -> dict[str, Any]:
    """``nats.connect`` keyword arguments of the test identity (none for a server without users)."""
    return options_of_test_identity(nats_credentials_file)


def options_of_test_identity(nats_credentials_file: Path | None) -> dict[str, Any]:
    """``nats.connect`` keyword arguments of the test identity, from a credentials file (none: no users)."""
    if nats_credentials_file is None:
        return {}
    credentials = credentials_for(Settings(nats_credentials_file=nats_credentials_file), TEST_IDENTITY)
    assert credentials is not None
    return credentials.connect_options()


@pytest.fixture
async def nats_url(tmp_path: Path, nats_credentials_file: Path | None) -> AsyncIterator[str]:
    """A NATS server with JetStream and tradelane's users, empty at the start of each test."""
    async with nats_server(tmp_path / "nats", nats_credentials_file) as url:
        yield url


def credentials_file(directory: Path) -> Path | None:
    """Every identity's NATS password (and the test identity's) in a file in ``directory``; None: no users."""
    if os.environ.get("TRADELANE_TEST_NATS_URL"):
        return None
    path = directory / "nats-credentials.json"
    load_or_create_credentials(path, [*IDENTITIES, TEST_IDENTITY])
    return path


@asynccontextmanager
async def nats_server(directory: Path, nats_credentials_file: Path | None) -> AsyncIterator[str]:
    """A NATS server with JetStream and tradelane's users, empty at the start, until the block ends."""
    external = os.environ.get("TRADELANE_TEST_NATS_URL")
    if external:
        await _delete_tradelane_streams(external)
        yield external
        return
    assert nats_credentials_file is not None
    server = EmbeddedNats(
        directory,
        passwords=load_or_create_credentials(nats_credentials_file, [*IDENTITIES, TEST_IDENTITY]),
        extra_identities={TEST_IDENTITY: TEST_PERMISSIONS},
        sync_interval=TEST_SYNC_INTERVAL,
    )
    url = await server.start()
    try:
        yield url
    finally:
        # its store is thrown away with the test: nothing to shut down cleanly (a SIGTERM takes JetStream
        # about 0.3 s, every test)
        if server.pid is not None:
            os.kill(server.pid, signal.SIGKILL)
        server.stop()


async def _delete_tradelane_streams(url: str) -> None:
    client = await nats.connect(url)
    js = client.jetstream()
    for name in ("PIPELINE", "TRADING", "DEADLETTER", "ADVISORIES", *(f"OBJ_{bucket}" for bucket in OBJECT_STORES)):
        with contextlib.suppress(NotFoundError):
            await js.delete_stream(name)
    await client.close()


@dataclass(frozen=True)
class ModuleServers:
    """A NATS server and a database that every test of one module shares."""

    nats_url: str
    nats_credentials_file: Path | None
    database_url: str
    nats_options: dict[str, Any]
    """``nats.connect`` keyword arguments of the test identity."""


@pytest.fixture(scope="module")
async def module_servers(
    tmp_path_factory: pytest.TempPathFactory, postgres_server_url: str, migrated_template: str
) -> AsyncIterator[ModuleServers]:
    """Servers for a module that runs its services once for all its tests (the bus fuzz does)."""
    directory = tmp_path_factory.mktemp("servers")
    credentials = credentials_file(directory)
    async with (
        nats_server(directory / "nats", credentials) as url,
        fresh_database(postgres_server_url, migrated_template) as dsn,
    ):
        yield ModuleServers(url, credentials, dsn, options_of_test_identity(credentials))


@pytest.fixture
def settings(nats_url: str, database_url: str, nats_credentials_file: Path | None) -> Settings:
    """Settings pointing at this test's servers (and NATS credentials), with short retry delays."""
    return Settings(
        nats_url=nats_url,
        nats_credentials_file=nats_credentials_file,
        database_url=SecretStr(database_url),
        ack_wait_seconds=5,
        retry_backoff_seconds=0.2,
        retry_backoff_max_seconds=1.0,
        log_format="console",
        health_port=0,
    )


@pytest.fixture
async def nats_client(nats_url: str, nats_options: dict[str, Any]) -> AsyncIterator[NatsClient]:
    """A nats-py client as the test identity."""
    client = await nats.connect(nats_url, **nats_options)
    yield client
    await client.close()


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool[Any]]:
    """A connection pool on this test's database."""
    opened = await create_pool(database_url)
    yield opened
    await opened.close()


@pytest.fixture
async def nats_broker(settings: Settings) -> AsyncIterator[NatsBroker]:
    """A FastStream broker on this test's NATS, with the streams and the object stores provisioned."""
    broker = create_broker(settings, TEST_IDENTITY)
    await broker.connect()
    await provision(broker.connection.jetstream(), settings)
    yield broker
    await broker.stop()


@pytest.fixture
def bus(nats_broker: NatsBroker) -> EventBus:
    """The event bus services use, on :func:`nats_broker`."""
    return EventBus(nats_broker)


@pytest.fixture
def payloads(bus: EventBus) -> PayloadStore:
    """The payload store (bars and series by reference) on :func:`bus`."""
    return PayloadStore(bus)


ApiToken = Callable[..., Awaitable[str]]


@pytest.fixture
def api_token(pool: asyncpg.Pool[Any]) -> ApiToken:
    """``await api_token("trade")``: the secret of a new API token of that scope in this test's database.

    Keyword arguments: ``name`` (default ``test-<scope>-<random>``) and ``expires_at``.
    """

    async def issue(scope: str = "admin", *, name: str | None = None, expires_at: datetime | None = None) -> str:
        issued = await TokenRepository(pool).create(
            name or f"test-{scope}-{uuid.uuid4().hex[:6]}", Scope(scope), created_by="test", expires_at=expires_at
        )
        return issued.secret

    return issue
