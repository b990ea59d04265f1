"""``tradelane up`` as a user runs it, healing itself: NATS or PostgreSQL killed outright comes back.

Each kill is of the pid ``processes.json`` names; within 30 s the gateway serves again and a
run requested after the kill completes. Meanwhile every answer is a 503 that names the
dependency (or, when the server is already back, a normal one): never a 500, never a hang.
A normal stop (SIGINT, Ctrl-C) exits 0 without a traceback or a lost-connection warning.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import Up, finished_execution, start_up, wait_until_ready
from tests.support.waiting import eventually
from tradelane.cli.embedded import process_alive
from tradelane.cli.processes import read_processes

pytestmark = pytest.mark.e2e

RECOVERY_SECONDS = 30.0
STRATEGY = {
    "name": "healing",
    "symbol": {"symbol": "AAPL"},
    "bar_size": "1 day",
    "duration": "1 Y",
    "schedule": {"cron": "0 0 1 1 *"},
    "render_png": False,
}


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    running = start_up(tmp_path_factory.mktemp("healing") / "state")
    try:
        yield running
    finally:
        running.interrupt()


@pytest.fixture
async def ready(up: Up) -> AsyncIterator[Up]:
    await wait_until_ready(up.gateway, timeout=120)
    yield up


async def kill_and_recover(up: Up, server: str) -> None:
    """kill -9 ``server``; every answer until it is restarted is a 503 naming it or a success; then a run completes.

    A success can come before the restart: a postmaster killed outright leaves its backends
    serving their open connections until they notice, so the gateway may still be served.
    The recovery is proven by a new pid in ``processes.json`` and a run accepted after it.
    """
    async with up.client() as client:
        created = await client.post("/api/strategies", json={**STRATEGY, "name": f"healing-{server}"})
        assert created.status_code == 201, created.text
        run_url = f"/api/strategies/{created.json()['id']}/run"
        victim = read_processes(up.state_dir)[server]
        os.kill(victim, signal.SIGKILL)
        loop = asyncio.get_running_loop()
        killed_at = loop.time()
        accepted = None
        while accepted is None:
            assert loop.time() - killed_at < RECOVERY_SECONDS, (
                f"{server} not restarted and serving {RECOVERY_SECONDS} s after it was killed"
            )
            restarted = read_processes(up.state_dir).get(server) not in {None, victim}
            try:
                answer = await client.post(run_url)
            except httpx.TimeoutException:
                pytest.fail(f"the gateway hung while {server} was down")
            if answer.status_code != 202:
                assert answer.status_code == 503, answer.text
                assert answer.headers["retry-after"]
                assert "retry shortly" in answer.json()["detail"]
            elif restarted:
                accepted = answer.json()["execution_id"]
            await asyncio.sleep(0.2)
        assert not process_alive(victim)
        execution = await finished_execution(client, accepted, timeout=RECOVERY_SECONDS)
        assert execution["status"] in {"completed", "rejected"}, execution


async def test_nats_killed_outright_is_restarted_and_a_run_completes(ready: Up) -> None:
    await kill_and_recover(ready, "nats")


async def test_postgres_killed_outright_is_restarted_and_a_run_completes(ready: Up) -> None:
    await kill_and_recover(ready, "postgres")


async def test_ctrl_c_stops_everything_cleanly(tmp_path: Path) -> None:
    up = start_up(tmp_path / "state")
    try:
        await wait_until_ready(up.gateway, timeout=120)
        pids = read_processes(up.state_dir)
        assert {"nats", "postgres", "gateway", "lineage"} <= set(pids)
    finally:
        code, output = up.interrupt()
    assert code == 0, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    assert "Connection broken" not in output, output[-3000:]
    assert "reconnecting" not in output.lower(), output[-3000:]
    assert not any(process_alive(pid) for pid in pids.values())
    assert not (up.state_dir / "processes.json").exists()


async def test_tradelane_up_killed_outright_takes_its_services_and_nats_with_it(tmp_path: Path) -> None:
    up = start_up(tmp_path / "state")
    try:
        await wait_until_ready(up.gateway, timeout=120)
        pids = read_processes(up.state_dir)
        up.process.kill()
        up.process.wait()
        children = {name: pid for name, pid in pids.items() if name != "postgres"}
        await eventually(
            lambda: not [name for name, pid in children.items() if process_alive(pid)],
            f"every child of tradelane up ({', '.join(children)}) to end after it died",
            timeout=RECOVERY_SECONDS,
        )
    finally:
        if up.process.poll() is None:
            up.interrupt()
        # the postmaster is detached by pg_ctl and outlives its starter by design (the next `up` attaches to it)
        postgres = read_processes(up.state_dir).get("postgres")
        if postgres is not None and process_alive(postgres):
            os.kill(postgres, signal.SIGTERM)
