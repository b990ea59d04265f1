"""What an operator reads: every line the services write is structlog's JSON, without libraries' chatter."""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import finished_execution, running_system
from tradelane.runtime.logging import QUIETED_LOGGERS
from tradelane.runtime.settings import Settings

pytestmark = pytest.mark.e2e


def _quieted(logger: str) -> bool:
    return any(logger == name or logger.startswith(f"{name}.") for name in QUIETED_LOGGERS)


async def test_a_run_logs_json_lines_of_ours_and_no_library_chatter(
    settings: Settings, capfd: pytest.CaptureFixture[str]
) -> None:
    """Chromium, FastStream's task callbacks and uvicorn's request lines stay out at INFO; what is left is JSON."""
    async with running_system(settings, TRADELANE_LOG_LEVEL="INFO") as system, system.client(timeout=10) as client:
        strategy = {"name": "e2e-logs", "symbol": {"symbol": "AAPL"}, "schedule": {"cron": "0 0 1 1 *"}}
        created = await client.post("/api/strategies", json=strategy)
        assert created.status_code == 201, created.text
        run = await client.post(f"/api/strategies/{created.json()['id']}/run")
        await finished_execution(client, run.json()["execution_id"])

    written = [line for line in capfd.readouterr().err.splitlines() if line.strip()]
    lines = [json.loads(line) for line in written]  # a line that is not JSON fails here, and names itself
    assert all({"timestamp", "level", "logger", "event"} <= line.keys() for line in lines), lines
    chatter = [line for line in lines if _quieted(line["logger"]) and line["level"] in {"debug", "info"}]
    assert chatter == []
    events = {line["event"] for line in lines}
    assert {"service_started", "service_stopped", "chromium_started"} <= events
