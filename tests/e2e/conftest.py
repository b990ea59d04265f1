"""The whole system as processes: every service started by the real supervisor."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from tests.support.waiting import eventually
from tradelane.cli.embedded import free_port
from tradelane.cli.services import SERVICES
from tradelane.cli.supervisor import Supervisor
from tradelane.cli.up import service_credentials
from tradelane.runtime.layout import provision_as_provisioner
from tradelane.runtime.settings import Settings
from tradelane.store.auth import Scope, TokenRepository
from tradelane.store.pool import create_pool


@dataclass
class System:
    supervisor: Supervisor
    gateway: str
    settings: Settings
    token: str
    """An admin API token of this system's gateway."""

    def client(self, **options: Any) -> httpx.AsyncClient:
        """An HTTP client of the gateway that sends the admin token (``options`` go to httpx)."""
        return httpx.AsyncClient(base_url=self.gateway, headers={"Authorization": f"Bearer {self.token}"}, **options)


async def admin_token(settings: Settings) -> str:
    """A new admin token in the system's database (which the test fixture has already migrated)."""
    pool = await create_pool(settings.database_url)
    try:
        issued = await TokenRepository(pool).create("e2e-admin", Scope.ADMIN, created_by="e2e")
    finally:
        await pool.close()
    return issued.secret


async def wait_until_ready(gateway: str, timeout: float = 60) -> None:
    async with httpx.AsyncClient(base_url=gateway) as client:

        async def ready() -> bool:
            try:
                return (await client.get("/readyz")).status_code == 200
            except httpx.TransportError:
                return False

        await eventually(ready, f"gateway {gateway} to be ready", timeout=timeout)


def system_env(settings: Settings, gateway_port: int, **extra: str) -> dict[str, str]:
    """The environment every service process of a test system gets (plus ``extra``)."""
    return {
        **os.environ,
        "TRADELANE_NATS_URL": settings.nats_url,
        "TRADELANE_DATABASE_URL": settings.database_url.get_secret_value(),
        "TRADELANE_GATEWAY_PORT": str(gateway_port),
        "TRADELANE_ACK_WAIT_SECONDS": "5",
        "TRADELANE_RETRY_BACKOFF_SECONDS": "0.2",
        "TRADELANE_RETRY_BACKOFF_MAX_SECONDS": "1",
        "TRADELANE_LOG_FORMAT": "json",
        "TRADELANE_LOG_LEVEL": "WARNING",
        "TRADELANE_SCHEDULER_RELOAD_SECONDS": "2",
        **extra,
    }


@asynccontextmanager
async def running_system(settings: Settings, **extra_env: str) -> AsyncIterator[System]:
    """Every service as a process, through the supervisor ``tradelane up`` uses, until the block ends.

    As ``tradelane up`` does, the streams are provisioned first as the ``provision`` identity,
    and each process gets only its own NATS user and password.
    """
    port = free_port()
    await provision_as_provisioner(settings)
    supervisor = Supervisor(
        SERVICES, system_env(settings, port, **extra_env), service_env=service_credentials(settings)
    )
    running = asyncio.create_task(supervisor.run())
    gateway = f"http://127.0.0.1:{port}"
    try:
        await wait_until_ready(gateway)
        yield System(supervisor, gateway, settings, await admin_token(settings))
    finally:
        await supervisor.stop()
        await running


async def finished_execution(client: httpx.AsyncClient, execution_id: str, timeout: float = 60) -> dict[str, Any]:
    """The execution once it is no longer running (AssertionError with its last state after ``timeout`` seconds)."""
    last_state = ""

    async def finished() -> dict[str, Any] | None:
        nonlocal last_state
        response = await client.get(f"/api/executions/{execution_id}", params={"payloads": "true"})
        if response.status_code == 200 and response.json()["status"] != "running":
            return dict(response.json())
        last_state = response.text[:500]
        return None

    try:
        return await eventually(finished, f"execution {execution_id} to finish", timeout=timeout)
    except AssertionError as error:
        raise AssertionError(f"{error}: {last_state}") from None


async def ledger_signal(client: httpx.AsyncClient, execution_id: str, timeout: float = 30) -> dict[str, Any]:
    """The signal of a finished execution once the signals ledger lists it (it records apart from the lineage)."""

    async def listed() -> dict[str, Any] | None:
        response = await client.get("/api/signals", params={"limit": 500})
        found = [item for item in response.json() if item["execution_id"] == execution_id]
        return dict(found[0]) if response.status_code == 200 and found else None

    return await eventually(listed, f"the signal of execution {execution_id} in the ledger", timeout=timeout)


@pytest.fixture
async def system(settings: Settings) -> AsyncIterator[System]:
    async with running_system(settings) as running:
        yield running


@pytest.fixture(scope="module")
async def module_system(module_servers: Any) -> AsyncIterator[System]:
    """One system for every test of a module, for tests that leave it working (a service they kill, the
    supervisor restarts): starting eleven processes takes a quarter of a minute on two cores.
    ``module_servers`` is the root conftest's ``ModuleServers``."""
    settings = Settings(
        nats_url=module_servers.nats_url,
        nats_credentials_file=module_servers.nats_credentials_file,
        database_url=SecretStr(module_servers.database_url),
        log_format="console",
        health_port=0,
    )
    async with running_system(settings) as running:
        yield running
