"""``tradelane up``: the whole system on one machine, with nothing to install beyond Python.

Starts an embedded NATS and PostgreSQL (data under the state directory, kept across
restarts) unless ``TRADELANE_NATS_URL`` / ``TRADELANE_DATABASE_URL`` name existing servers,
prepares the database and streams, creates the demo strategy and an admin API token on
first start (the token is printed once and kept in ``<state_dir>/admin-token``), then runs
every service as its own process until Ctrl-C.

It heals what dies: a service process is restarted by the :class:`Supervisor`, and the
embedded NATS and PostgreSQL by :func:`keep_server_running` (same data, same port or socket,
so every client reconnects to the URL it has). ``<state_dir>/processes.json`` names the
process id of each, rewritten on every (re)start. Ctrl-C stops the services first (the
gateway and scheduler before the others, so nothing new enters while the rest drain), then
the servers they were using.

The state directory is made private (``0700``) before anything is written into it, and what
``tradelane up`` prints or writes shows every URL with its password masked.

The embedded NATS has one user per service (``tradelane.runtime.bus_permissions``), their
passwords generated on first start into ``<state_dir>/nats-credentials.json`` (0600). The
streams are provisioned here as the ``provision`` identity; each service process is given only
its own user and password (``TRADELANE_NATS_USER`` / ``TRADELANE_NATS_PASSWORD``).
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import structlog
from pydantic import SecretStr

from tradelane.cli.credentials import AdminToken, ensure_admin_token
from tradelane.cli.demo import DEMO_STRATEGY
from tradelane.cli.embedded import EmbeddedNats, EmbeddedPostgres
from tradelane.cli.endpoints import remove_endpoints, write_endpoints
from tradelane.cli.processes import ProcessRegistry
from tradelane.cli.server_watch import watched
from tradelane.cli.services import SERVICES
from tradelane.cli.supervisor import Supervisor
from tradelane.contracts import subjects
from tradelane.contracts.events import ExecutionRequested, Trigger
from tradelane.runtime.bus import dedup_headers
from tradelane.runtime.bus_credentials import (
    connected,
    credentials_for,
    credentials_path,
    load_or_create_credentials,
)
from tradelane.runtime.bus_permissions import OPERATOR, identity_of
from tradelane.runtime.layout import provision_as_provisioner
from tradelane.runtime.private_files import make_private_dir
from tradelane.runtime.redaction import redact, register_secret, register_settings_secrets
from tradelane.runtime.service import graceful_timeout
from tradelane.runtime.settings import Settings
from tradelane.store.migrate import migrate
from tradelane.store.pool import create_pool
from tradelane.store.strategies import StrategyRepository

log = structlog.get_logger(__name__)

STOP_MARGIN_SECONDS = 5.0
"""What a stopping service is given beyond its graceful timeout (to close its pools and exit) before it is killed."""


@dataclass(frozen=True)
class Prepared:
    first_run: ExecutionRequested | None
    """The first run of the demo strategy, when it was just created."""
    admin_token: AdminToken


async def prepare(settings: Settings, state_dir: Path) -> Prepared:
    """Migrate the database, provision the streams, create the demo strategy if there is none (and
    ``TRADELANE_DEMO_STRATEGY`` is not off), and the local admin token if there is no live one."""
    pool = await create_pool(settings.database_url)
    try:
        await migrate(pool)
        admin_token = await ensure_admin_token(pool, state_dir)
        strategies = StrategyRepository(pool)
        first_run = None
        if settings.demo_strategy and not await strategies.list():
            demo = await strategies.create(DEMO_STRATEGY)
            log.info("demo_strategy_created", strategy_id=str(demo.id), name=demo.definition.name)
            first_run = ExecutionRequested(
                execution_id=uuid4(),
                strategy_id=demo.id,
                strategy=demo.definition,
                trigger=Trigger.MANUAL,
                as_of=datetime.now(UTC),
            )
    finally:
        await pool.close()
    await provision_as_provisioner(settings)
    if first_run is not None:
        async with connected(settings, credentials_for(settings, OPERATOR), "up") as client:
            await client.jetstream().publish(
                subjects.EXECUTION_REQUESTED,
                first_run.model_dump_json().encode(),
                headers=dedup_headers(first_run),
                stream=subjects.PIPELINE_STREAM,
            )
    return Prepared(first_run, admin_token)


def service_credentials(settings: Settings) -> dict[str, dict[str, str]]:
    """Each service's own NATS user and password, as environment variables of its process."""
    if settings.nats_credentials_file is None:
        return {}
    environments = {}
    for service in SERVICES:
        credentials = credentials_for(settings, identity_of(service))
        assert credentials is not None
        environments[service] = {
            "TRADELANE_NATS_USER": credentials.user,
            "TRADELANE_NATS_PASSWORD": credentials.password.get_secret_value(),
        }
    return environments


def token_lines(admin: AdminToken) -> list[str]:
    """What the banner says about the admin token: the secret only when it was just created."""
    if admin.secret is not None:
        return [
            f"    admin API token      {admin.secret}",
            f"                         shown this once; kept in {admin.path} (mode 0600)",
            "                         paste it into the web UI's login; `tradelane api GET /api/session` uses it",
        ]
    if admin.problem is not None:
        return [f"    admin API token      {admin.problem}"]
    return [f"    admin API token      in {admin.path} (`tradelane api` uses it; paste it into the web UI's login)"]


def banner(gateway: str, nats_url: str, database_url: str, state_dir: str, admin: AdminToken) -> str:
    """What ``tradelane up`` prints once everything runs; URLs are shown with their passwords masked."""
    nats_url, database_url = redact(nats_url), redact(database_url)
    return "\n".join(
        [
            "",
            "  tradelane is up",
            f"    web UI and REST API  {gateway}   (OpenAPI: {gateway}/openapi.json)",
            *token_lines(admin),
            f"    NATS JetStream       {nats_url}",
            f"    PostgreSQL           {database_url}",
            f"    state directory      {state_dir}",
            "  Ctrl-C stops everything.",
            "",
        ]
    )


@dataclass(frozen=True)
class Servers:
    nats_url: str
    database_url: str
    nats_credentials_file: Path | None
    """Every identity's NATS password, when the NATS server is the embedded one."""


@asynccontextmanager
async def running_servers(state_dir: Path, env: Mapping[str, str], registry: ProcessRegistry) -> AsyncIterator[Servers]:
    """The NATS and PostgreSQL servers ``env`` names, or embedded ones kept running (and stopped) here."""
    nats_url = env.get("TRADELANE_NATS_URL")
    database_url = env.get("TRADELANE_DATABASE_URL")
    credentials_file = None
    async with AsyncExitStack() as stack:
        if not nats_url:
            credentials_file = credentials_path(state_dir)
            passwords = load_or_create_credentials(credentials_file)
            for password in passwords.values():
                register_secret(password)
            embedded_nats = EmbeddedNats(state_dir / "nats", passwords=passwords)
            nats_url = await embedded_nats.start()
            stack.callback(embedded_nats.stop)
            await stack.enter_async_context(watched("nats", embedded_nats, registry))
        if not database_url:
            embedded_postgres = EmbeddedPostgres(state_dir / "postgres")
            database_url = await asyncio.to_thread(embedded_postgres.start, "tradelane")
            stack.callback(embedded_postgres.stop)
            await stack.enter_async_context(watched("postgres", embedded_postgres, registry))
        register_secret(nats_url)
        register_secret(database_url)
        yield Servers(nats_url, database_url, credentials_file)


async def up(settings: Settings, env: Mapping[str, str]) -> None:
    """Bring the system up and keep it running until SIGINT or SIGTERM."""
    state_dir = make_private_dir(settings.state_dir.resolve())
    registry = ProcessRegistry(state_dir)
    try:
        async with running_servers(state_dir, env, registry) as servers:
            nats_url, database_url = servers.nats_url, servers.database_url
            if servers.nats_credentials_file is not None:
                settings = settings.model_copy(
                    update={
                        "nats_credentials_file": servers.nats_credentials_file,
                        "nats_user": None,
                        "nats_password": None,
                    }
                )
            settings = settings.model_copy(update={"nats_url": nats_url, "database_url": SecretStr(database_url)})
            prepared = await prepare(settings, state_dir)

            # each service gets its own NATS identity, never the file holding every password
            child_env = {
                **{name: value for name, value in env.items() if name != "TRADELANE_NATS_CREDENTIALS_FILE"},
                "TRADELANE_NATS_URL": nats_url,
                "TRADELANE_DATABASE_URL": database_url,
            }
            supervisor = Supervisor(
                SERVICES,
                child_env,
                service_env=service_credentials(settings),
                on_started=registry.started,
                stop_grace_seconds=graceful_timeout(settings) + STOP_MARGIN_SECONDS,
            )
            host = env.get("TRADELANE_GATEWAY_HOST", "127.0.0.1")
            port = env.get("TRADELANE_GATEWAY_PORT", "8000")
            gateway = f"http://{host}:{port}"
            print(banner(gateway, nats_url, database_url, str(state_dir), prepared.admin_token), flush=True)  # noqa: T201
            write_endpoints(state_dir, nats_url=nats_url, database_url=database_url, gateway_url=gateway)

            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, stop.set)
            running = asyncio.create_task(supervisor.run())
            await stop.wait()
            log.info("stopping")
            # the services first: the servers stop only once nothing uses them
            await supervisor.stop()
            await running
    finally:
        remove_endpoints(state_dir)
        registry.remove()
    log.info("stopped")


def run_up() -> None:
    from tradelane.runtime.logging import configure_logging

    settings = Settings()
    register_settings_secrets(settings)
    configure_logging(settings.log_level, settings.log_format)
    asyncio.run(up(settings, dict(os.environ)))
