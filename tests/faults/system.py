"""One ``tradelane up`` as a real process (the ``make run`` path), and how to find and hurt its processes.

The fault cases need the system exactly as a user runs it: ``python -m tradelane.cli up`` with
its own state directory, embedded NATS and PostgreSQL, and its supervisor. The process ids of
what it runs come from ``<state_dir>/processes.json`` when ``tradelane up`` writes one
(``{"nats": pid, "postgres": pid, "<service>": pid, ...}``, rewritten on every (re)start);
without it they are found as the system itself shows them: services and NATS are children of
``tradelane up`` (``python -m tradelane.<service>``, ``nats-server``), and PostgreSQL's
postmaster is the first line of ``postmaster.pid`` in its data directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import httpx

from tradelane.cli.embedded import free_port
from tradelane.cli.services import SERVICES

NATS = "nats"
POSTGRES = "postgres"
PROCESSES_FILE = "processes.json"
READY_TIMEOUT_SECONDS = 90.0
STOP_TIMEOUT_SECONDS = 60.0


class UpSystem:
    """``tradelane up`` in ``state_dir`` on a fixed gateway port, started, stopped and restarted by the fault cases."""

    def __init__(self, state_dir: Path, env: Mapping[str, str]) -> None:
        self.state_dir = state_dir
        self.port = free_port()
        self.gateway = f"http://127.0.0.1:{self.port}"
        self.log_path = state_dir.with_name(f"{state_dir.name}-up.log")
        inherited = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith("TRADELANE_") or name == "TRADELANE_STATE_DIR"
        }
        self._env = {
            **inherited,
            "TRADELANE_STATE_DIR": str(state_dir),
            "TRADELANE_GATEWAY_PORT": str(self.port),
            "TRADELANE_LOG_FORMAT": "json",
            "TRADELANE_LOG_LEVEL": "WARNING",
            **env,
        }
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def up_pid(self) -> int | None:
        """The pid of ``tradelane up`` while it runs."""
        if self._process is None or self._process.poll() is not None:
            return None
        return self._process.pid

    async def start(self) -> None:
        """Start ``tradelane up`` and wait until its gateway is ready."""
        assert self.up_pid is None, "tradelane up is running already"
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "tradelane.cli", "up"],
                env=self._env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        await self.wait_ready(READY_TIMEOUT_SECONDS)

    async def terminate(self) -> None:
        """SIGTERM ``tradelane up`` (it stops its services, then NATS and PostgreSQL) and wait for it."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(process.wait, STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                await asyncio.to_thread(process.wait)
        self._process = None

    async def stop(self) -> None:
        """Stop everything this system started, whatever state a fault left it in.

        What outlives ``tradelane up`` is killed only if it is still the very process seen
        before (same pid and start time): a pid freed meanwhile may belong to someone else now.
        """
        started = {pid: _start_time(pid) for pid in self.pids().values()}
        for pid in started:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)  # a paused server must wake to see its own stop
        await self.terminate()
        await asyncio.sleep(1)
        for pid, start_time in started.items():
            if start_time is not None and _start_time(pid) == start_time:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    async def wait_ready(self, timeout: float) -> float:
        """Seconds until the gateway answers ``/readyz`` with 200 (TimeoutError after ``timeout``)."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        async with httpx.AsyncClient(base_url=self.gateway, timeout=5) as client:
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get("/readyz")).status_code == 200:
                        return loop.time() - started
                if self._process is not None and self._process.poll() is not None:
                    raise RuntimeError(f"tradelane up exited with {self._process.returncode}; see {self.log_path}")
                if loop.time() - started > timeout:
                    raise TimeoutError(f"{self.gateway} not ready within {timeout} s; see {self.log_path}")
                await asyncio.sleep(0.25)

    async def healthy(self) -> bool:
        """Whether ``tradelane up``, NATS, PostgreSQL and every service run and the gateway is ready."""
        pids = self.pids()
        if self.up_pid is None or any(name not in pids for name in (NATS, POSTGRES, *SERVICES)):
            return False
        try:
            await self.wait_ready(10)
        except (TimeoutError, RuntimeError):
            return False
        return True

    @property
    def token(self) -> str:
        return (self.state_dir / "admin-token").read_text(encoding="utf-8").strip()

    @property
    def database_url(self) -> str:
        """The DSN ``tradelane up`` serves PostgreSQL on (a Unix socket in the state directory, no password)."""
        return str(json.loads((self.state_dir / "endpoints.json").read_text(encoding="utf-8"))["database_url"])

    @property
    def nats_url(self) -> str:
        return str(json.loads((self.state_dir / "endpoints.json").read_text(encoding="utf-8"))["nats_url"])

    def client(self, timeout: float = 10) -> httpx.AsyncClient:
        """An HTTP client of the gateway with the admin token."""
        return httpx.AsyncClient(
            base_url=self.gateway, headers={"Authorization": f"Bearer {self.token}"}, timeout=timeout
        )

    @asynccontextmanager
    async def database(self) -> AsyncIterator[asyncpg.Connection]:
        connection = await asyncpg.connect(self.database_url, timeout=10)
        try:
            yield connection
        finally:
            await connection.close()

    def pids(self) -> dict[str, int]:
        """The live pid of NATS, PostgreSQL (postmaster) and each service, by name."""
        written = _read_processes(self.state_dir / PROCESSES_FILE)
        found = written if written else self._found_pids()
        return {name: pid for name, pid in found.items() if _alive(pid)}

    def pid(self, name: str) -> int:
        pid = self.pids().get(name)
        assert pid is not None, f"no live {name} process under {self.state_dir}"
        return pid

    def _found_pids(self) -> dict[str, int]:
        found: dict[str, int] = {}
        up = self.up_pid
        if up is not None:
            for pid, command in _children(up):
                if Path(command[0]).name == "nats-server":
                    found[NATS] = pid
                elif len(command) >= 3 and command[1] == "-m" and command[2].startswith("tradelane."):
                    found[command[2].removeprefix("tradelane.")] = pid
        with contextlib.suppress(OSError, ValueError, IndexError):
            postmaster = self.state_dir / "postgres" / "postmaster.pid"
            found[POSTGRES] = int(postmaster.read_text(encoding="utf-8").splitlines()[0])
        return found


def _read_processes(path: Path) -> dict[str, int]:
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(body, dict):
        return {}
    return {str(name).replace("-", "_"): pid for name, pid in body.items() if isinstance(pid, int)}


def _start_time(pid: int) -> int | None:
    """When ``pid`` started (clock ticks since boot), None when it does not run."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8").rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] == "Z" else int(fields[19])


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, killed but not yet reaped, does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _children(parent: int) -> list[tuple[int, list[str]]]:
    """``(pid, argv)`` of every live process whose parent is ``parent``."""
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError):
            fields = (entry / "stat").read_text(encoding="utf-8").rsplit(")", 1)[1].split()
            if int(fields[1]) != parent or fields[0] == "Z":
                continue
            argv = (entry / "cmdline").read_bytes().rstrip(b"\0").split(b"\0")
            children.append((int(entry.name), [part.decode() for part in argv]))
    return children


def process_tree(pid: int) -> list[int]:
    """``pid`` and every live descendant of it."""
    tree = [pid]
    for child, _ in _children(pid):
        tree.extend(process_tree(child))
    return tree
