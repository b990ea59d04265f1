"""The whole system as processes: every service started by the real supervisor, or by ``tradelane up`` itself.

Starting a system takes a dozen processes a quarter of a minute on two cores, so modules that only
add their own strategies, prompts and orders to it share one: ``module_system`` for a module's
tests, ``web_ui_up`` for every web UI module that needs no model server, and one Chromium
(``browser``) for every browser test of the package.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, async_playwright
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


CHROMIUM = "/usr/bin/chromium"
"""Debian's Chromium; Playwright's own browser download does not work here (never `playwright install`)."""


@dataclass
class Up:
    process: subprocess.Popen[bytes]
    state_dir: Path
    gateway: str
    output: Path

    def client(self) -> httpx.AsyncClient:
        token = (self.state_dir / "admin-token").read_text().strip()
        return httpx.AsyncClient(base_url=self.gateway, headers={"Authorization": f"Bearer {token}"}, timeout=10)

    def interrupt(self, timeout: float = 60) -> tuple[int, str]:
        """Ctrl-C: SIGINT to ``tradelane up``; its exit code and everything it printed."""
        self.process.send_signal(signal.SIGINT)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        return code, self.output.read_text(errors="replace")


def start_up(state_dir: Path, **extra_env: str) -> Up:
    """``tradelane up`` as a process of its own, on a free gateway port, with its state in ``state_dir``
    (and ``extra_env`` added to its environment)."""
    port = free_port()
    output = state_dir.parent / f"{state_dir.name}.log"
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in {"TRADELANE_NATS_URL", "TRADELANE_DATABASE_URL", "TRADELANE_NATS_CREDENTIALS_FILE"}
    }
    env |= {
        "TRADELANE_STATE_DIR": str(state_dir),
        "TRADELANE_GATEWAY_PORT": str(port),
        "TRADELANE_ACK_WAIT_SECONDS": "5",
        "TRADELANE_LOG_FORMAT": "json",
        "TRADELANE_SCHEDULER_RELOAD_SECONDS": "2",
        **extra_env,
    }
    with output.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "tradelane.cli", "up"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Up(process, state_dir, f"http://127.0.0.1:{port}", output)


WEB_UI_LLM_BUDGET_USD = "5"
"""The shared web UI system's daily LLM budget, which the dashboard shows."""
WEB_UI_ENV = {
    "TRADELANE_LLM_DAILY_BUDGET_USD": WEB_UI_LLM_BUDGET_USD,
    # the live log shows every step of a run: each has a line at DEBUG (event_published, step_recorded)
    "TRADELANE_LOG_STREAM_LEVEL": "DEBUG",
    # the broker's snapshot every 2 s, so the portfolio's equity curve has points
    "TRADELANE_BROKER_SNAPSHOT_INTERVAL_SECONDS": "2",
    # the demo strategy paper-trades BTC every minute: its position could make the trading pages' orders
    # exceed max_position_notional, so the book holds only what the tests place
    "TRADELANE_DEMO_STRATEGY": "false",
}
"""What the web UI modules need of their one system: each one's settings, none in the way of another's."""


@pytest.fixture(scope="package")
def web_ui_up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    """One ``tradelane up`` (offline analyst, paper broker) for every web UI module that needs no model server.

    Each module's tests add their own strategies, prompts and orders (named for the test) and find
    them by name or id, never by being alone in a list; what one changes for good (a risk limit) no
    other reads.
    """
    running = start_up(tmp_path_factory.mktemp("web-ui") / "state", **WEB_UI_ENV)
    try:
        yield running
    finally:
        running.interrupt()


@pytest.fixture(scope="package")
async def browser() -> AsyncIterator[Browser]:
    """One Chromium for every browser test of the package; each test opens a context of its own."""
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM)
        try:
            yield launched
        finally:
            await launched.close()
