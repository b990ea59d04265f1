"""Fixtures of the fault suite: the fault table, and ``tradelane up`` systems that outlive one case.

Starting ``tradelane up`` takes seconds, so each test module keeps one system for all its
cases (``started_system``); a case first makes sure the system it gets is whole
(``healthy_system``), restarting it when an earlier case left it broken, so one failure does
not fail every case after it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from tests.faults.report import FaultTable, table_path
from tests.faults.system import UpSystem

_TABLE = pytest.StashKey[FaultTable]()
_TABLE_PATH = pytest.StashKey[Path]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_TABLE] = FaultTable()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    table = config.stash.get(_TABLE, None)
    if table is None or not table.rows:
        return
    path = table.write(config.stash[_TABLE_PATH])
    terminalreporter.section("fault table")
    terminalreporter.write_line(table.markdown())
    terminalreporter.write_line(f"written to {path}")


@pytest.fixture(scope="session")
def fault_table(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> FaultTable:
    """The rows of the cases run so far; printed at the end and written to ``TRADELANE_FAULT_TABLE``, or to
    ``faults.md`` in the run's temporary directory (never into the working tree unless asked)."""
    pytestconfig.stash[_TABLE_PATH] = table_path(tmp_path_factory.getbasetemp())
    return pytestconfig.stash[_TABLE]


@asynccontextmanager
async def started_system(
    tmp_path_factory: pytest.TempPathFactory, name: str, env: Mapping[str, str]
) -> AsyncIterator[UpSystem]:
    """``tradelane up`` with its own state directory, stopped (and everything it ran) when the block ends.

    Without the demo strategy: its runs, every minute, would only add load to the cases, and its
    analysis (analyst 'auto', so the fake model, which has no answer scripted for it) would be
    retried all along, a message in flight that keeps the bus from ever falling quiet.
    """
    system = UpSystem(tmp_path_factory.mktemp(name) / "state", {"TRADELANE_DEMO_STRATEGY": "false", **env})
    try:
        await system.start()
        yield system
    finally:
        await system.stop()


async def healthy_system(system: UpSystem) -> UpSystem:
    """``system``, restarted first when a process of it is missing or its gateway is not ready."""
    if not await system.healthy():
        await system.restart()
    return system
