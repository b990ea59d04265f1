"""processes.json: every process's current pid, private, rewritten on each start, gone after stop."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from tradelane.cli.processes import PROCESSES_FILE, ProcessRegistry, read_processes


def test_each_start_rewrites_the_file_with_the_current_pids(tmp_path: Path) -> None:
    registry = ProcessRegistry(tmp_path)
    registry.started("nats", 101)
    registry.started("gateway", 202)
    registry.started("nats", 303)
    assert json.loads((tmp_path / PROCESSES_FILE).read_text()) == {"nats": 303, "gateway": 202}
    assert read_processes(tmp_path) == {"nats": 303, "gateway": 202}
    assert stat.S_IMODE((tmp_path / PROCESSES_FILE).stat().st_mode) == 0o600


def test_remove_leaves_no_file_and_reading_then_finds_nothing(tmp_path: Path) -> None:
    registry = ProcessRegistry(tmp_path)
    registry.started("postgres", 7)
    registry.remove()
    registry.remove()
    assert not (tmp_path / PROCESSES_FILE).exists()
    assert read_processes(tmp_path) == {}
