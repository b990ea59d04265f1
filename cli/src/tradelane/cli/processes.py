"""``<state_dir>/processes.json``: the process id of every server and service ``tradelane up`` runs.

It says which process is which without guessing from command lines: an operator (``kill``,
``py-spy dump``) and the fault-injection suite read it to find the process to act on. It is
rewritten, atomically, each time a process starts or restarts, so it always names the live
ones, and removed when ``tradelane up`` stops.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from tradelane.runtime.private_files import write_private_file

PROCESSES_FILE = "processes.json"


class ProcessRegistry:
    """Keeps ``processes.json`` in step with the processes' current ids."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / PROCESSES_FILE
        self._pids: dict[str, int] = {}

    def started(self, name: str, pid: int) -> None:
        """Record that ``name`` now runs as ``pid`` and rewrite the file."""
        self._pids[name] = pid
        write_private_file(self.path, json.dumps(self._pids, indent=2) + "\n")

    def remove(self) -> None:
        """Remove the file: nothing it named runs any more."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def read_processes(state_dir: Path) -> dict[str, int]:
    """The process ids ``tradelane up`` last wrote (empty when it does not run)."""
    try:
        return {name: int(pid) for name, pid in json.loads((state_dir / PROCESSES_FILE).read_text()).items()}
    except FileNotFoundError:
        return {}
