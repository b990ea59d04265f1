"""The supervisor's processes, as the kernel sees them."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from tradelane.cli.supervisor import Supervisor


def _environment_of(pid: int) -> dict[str, str]:
    entries = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(entry.decode().split("=", 1) for entry in entries if b"=" in entry)


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="reads a process's environment from /proc")
async def test_each_process_binds_a_health_port_of_the_kernels_choosing() -> None:
    """A port picked free by the supervisor and bound later by the child could be taken in between."""
    supervisor = Supervisor(("signals",), {**os.environ, "TRADELANE_HEALTH_PORT": "8080"}, stop_grace_seconds=5)
    running = asyncio.create_task(supervisor.run())
    try:
        while (pid := supervisor.pid("signals")) is None:
            await asyncio.sleep(0.01)
        assert _environment_of(pid)["TRADELANE_HEALTH_PORT"] == "0"
    finally:
        await supervisor.stop()
        await running
