"""What every benchmark shares: the machine it ran on, the CPU of process trees, fresh embedded servers, and where
figures go."""

from __future__ import annotations

import json
import os
import platform
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from pydantic import SecretStr

from tradelane.cli.embedded import SYNC_INTERVAL, EmbeddedNats, EmbeddedPostgres
from tradelane.runtime.bus_credentials import load_or_create_credentials
from tradelane.runtime.layout import provision_as_provisioner
from tradelane.runtime.settings import Settings
from tradelane.store.migrate import migrate
from tradelane.store.pool import create_pool

RESULTS = Path(__file__).parent / "results"
CLOCK_TICKS: Final = os.sysconf("SC_CLK_TCK")


SPEED_PROBE_ADDITIONS: Final = 10_000_000


def speed_probe_seconds() -> float:
    """CPU seconds of a fixed pure-Python loop (:data:`SPEED_PROBE_ADDITIONS` additions): a virtual machine's
    speed drifts by a third from one hour to the next, and two benchmark runs compare only beside this figure."""
    started = time.process_time()
    total = 0
    for number in range(SPEED_PROBE_ADDITIONS):
        total += number
    return round(time.process_time() - started, 3)


def machine() -> dict[str, Any]:
    """CPUs, Python, platform, the load and the speed when measured: other work on the machine slows every figure."""
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "speed_probe_seconds": speed_probe_seconds(),
    }


@dataclass(frozen=True)
class ProcessTable:
    """One look at /proc: each process's parent and CPU seconds.

    A process's CPU seconds include those of its children that have exited and been reaped, so
    that the difference of two looks at a tree keeps the work of the processes that ended in
    between (the llm-analyst's prompt render processes, forked and reaped by its zygotes, live milliseconds each; a
    Chromium process that exits mid-measurement would otherwise take its work with it).
    """

    parents: dict[int, int]
    cpu_seconds: dict[int, float]

    @classmethod
    def read(cls) -> ProcessTable:
        parents: dict[int, int] = {}
        cpu: dict[int, float] = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # exited meanwhile
            pid = int(entry.name)
            parents[pid] = int(fields[1])
            cpu[pid] = sum(int(ticks) for ticks in fields[11:15]) / CLOCK_TICKS  # utime stime cutime cstime
        return cls(parents, cpu)

    def tree(self, root: int) -> set[int]:
        """``root`` and every process under it."""
        children: dict[int, list[int]] = defaultdict(list)
        for pid, parent in self.parents.items():
            children[parent].append(pid)
        found, todo = set(), [root]
        while todo:
            pid = todo.pop()
            if pid in self.parents and pid not in found:
                found.add(pid)
                todo.extend(children[pid])
        return found

    def cpu_seconds_of(self, pids: set[int]) -> float:
        return sum(self.cpu_seconds.get(pid, 0.0) for pid in pids)


def cpu_seconds_of_tree(root: int) -> float:
    """User and system CPU of process ``root`` and every process under it, reaped ones included, in seconds."""
    table = ProcessTable.read()
    return table.cpu_seconds_of(table.tree(root))


@asynccontextmanager
async def embedded_servers(
    workdir: Path, sync_interval: str = SYNC_INTERVAL, *, users: bool = False
) -> AsyncIterator[Settings]:
    """An embedded NATS and PostgreSQL of their own, migrated and provisioned; stopped on the way out.

    With ``users``, NATS has one user per identity and refuses anonymous clients, as under
    ``tradelane up``: the settings name the credentials file, and the streams are provisioned
    as the ``provision`` identity.
    """
    credentials_file = workdir / "nats-credentials.json" if users else None
    passwords = load_or_create_credentials(credentials_file) if credentials_file is not None else None
    embedded_nats = EmbeddedNats(workdir / "nats", sync_interval=sync_interval, passwords=passwords)
    embedded_postgres = EmbeddedPostgres(workdir / "postgres")
    nats_url = await embedded_nats.start()
    try:
        database_url = embedded_postgres.start("tradelane")
        settings = Settings(
            nats_url=nats_url, nats_credentials_file=credentials_file, database_url=SecretStr(database_url)
        )
        pool = await create_pool(database_url)
        await migrate(pool)
        await pool.close()
        await provision_as_provisioner(settings)
        yield settings
    finally:
        embedded_nats.stop()
        embedded_postgres.stop()


def write_results(name: str, result: dict[str, Any], markdown: str) -> None:
    """``bench/results/<name>.json`` and ``.md``, and the table on the terminal."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / f"{name}.md").write_text(markdown)
    print(markdown)
