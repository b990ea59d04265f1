"""One execution end to end through every service process, checked in the lineage."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from typing import Any

import pytest

from tests.e2e.conftest import System, finished_execution
from tests.support.waiting import eventually
from tradelane.contracts.strategy import StrategyDefinition
from tradelane.store.pool import create_pool
from tradelane.store.strategies import StrategyRepository

pytestmark = pytest.mark.e2e

STEPS = ["requested", "market_data", "indicators", "chart", "analysis", "signal"]


def _strategy(name: str, **overrides: Any) -> dict[str, Any]:
    return {
        "name": name,
        "symbol": {"symbol": "AAPL"},
        "bar_size": "1 day",
        "duration": "1 Y",
        "schedule": {"cron": "0 0 1 1 *"},
        **overrides,
    }


@pytest.fixture(scope="module")
async def cron_strategy(module_servers: Any) -> str:
    """A strategy due every minute, stored before the module's system starts (the scheduler loads it at its
    start): its first scheduled run, at the next minute, comes while the system starts and the other tests run,
    and the last test finds it. ``module_servers`` is the root conftest's ``ModuleServers``."""
    pool = await create_pool(module_servers.database_url)
    try:
        stored = await StrategyRepository(pool).create(
            StrategyDefinition.model_validate(_strategy("e2e-cron", render_png=False, schedule={"cron": "* * * * *"}))
        )
    finally:
        await pool.close()
    return str(stored.id)


@pytest.fixture(scope="module")
def module_system(cron_strategy: str, module_system: System) -> System:
    """The e2e package's module system, started once the cron strategy is stored."""
    return module_system


async def test_a_manual_run_goes_through_all_six_steps(module_system: System) -> None:
    async with module_system.client(timeout=10) as client:
        created = await client.post("/api/strategies", json=_strategy("e2e-all-steps"))
        assert created.status_code == 201, created.text
        run = await client.post(f"/api/strategies/{created.json()['id']}/run")
        assert run.status_code == 202
        execution = await finished_execution(client, run.json()["execution_id"])

        assert execution["status"] in {"completed", "rejected"}, execution
        steps = {step["step"]: step for step in execution["steps"]}
        assert list(steps) == STEPS
        for name in STEPS[1:]:
            assert steps[name]["input"] is not None, name
            assert steps[name]["output"]["execution_id"] == run.json()["execution_id"]
            assert steps[name]["duration_ms"] is not None
            assert steps[name]["stream_sequence"] > 0
        window = steps["market_data"]["output"]["bars"]
        assert window["count"] > 200
        fetched = (await client.get(f"/api/executions/{run.json()['execution_id']}/steps/market_data/output")).json()
        assert len(fetched["payloads"][window["sha256"]]) == window["count"]
        computed = (await client.get(f"/api/executions/{run.json()['execution_id']}/steps/indicators/output")).json()
        assert "rsi_14" in computed["payloads"][steps["indicators"]["output"]["series"]["name"]]
        png = steps["chart"]["output"]["png"]
        image = await client.get(f"/api/charts/{png['name']}")
        assert image.content.startswith(b"\x89PNG")
        figure = (await client.get(f"/api/charts/{steps['chart']['output']['figure']['name']}")).json()
        [candles] = [trace for trace in figure["data"] if trace["type"] == "candlestick"]
        assert len(candles["close"]) == 200  # the default chart_bars, of the year's bars
        assert steps["analysis"]["output"]["analysis"]["model"] == "offline-rules-v1"
        assert steps["signal"]["output"]["signal" if execution["status"] == "completed" else "candidate"]["action"]


async def test_a_long_intraday_history_with_three_extra_timeframes_travels_by_reference(module_system: System) -> None:
    """4,320 one-minute bars plus three timeframes (megabytes of bars and series) in messages of a few KB."""
    strategy = _strategy(
        "e2e-large-messages",
        symbol={"symbol": "BTC", "asset_type": "CRYPTO", "exchange": "PAXOS"},
        bar_size="1 min",
        duration="3 D",
        render_png=False,
        analysis={"timeframes": ["5 mins", "1 hour", "1 day"]},
    )
    async with module_system.client(timeout=10) as client:
        created = await client.post("/api/strategies", json=strategy)
        assert created.status_code == 201, created.text
        run = await client.post(f"/api/strategies/{created.json()['id']}/run")
        execution = await finished_execution(client, run.json()["execution_id"], timeout=120)
        assert execution["status"] in {"completed", "rejected"}, execution
        steps = {step["step"]: step for step in execution["steps"]}
        indicators = steps["indicators"]["output"]
        assert indicators["bars"]["count"] == 4320
        assert [frame["snapshot"]["bar_size"] for frame in indicators["timeframes"]] == ["5 mins", "1 hour", "1 day"]
        assert all(len(json.dumps(step["output"])) < 64 * 1024 for step in execution["steps"])
        charts = steps["chart"]["output"]
        assert [frame["snapshot"]["bar_size"] for frame in charts["timeframes"]] == ["5 mins", "1 hour", "1 day"]
        assert all(frame["png"] is None for frame in charts["timeframes"])


async def test_an_unknown_symbol_fails_the_execution_with_the_reason(module_system: System) -> None:
    async with module_system.client(timeout=10) as client:
        created = await client.post("/api/strategies", json=_strategy("e2e-unknown", symbol={"symbol": "ZZZZ"}))
        run = await client.post(f"/api/strategies/{created.json()['id']}/run")
        execution = await finished_execution(client, run.json()["execution_id"])
        assert execution["status"] == "failed"
        assert "ZZZZ" in execution["error"]
        # the dead letter is recorded by its own lineage consumer, a moment after the failure

        async def with_dead_letter() -> dict[str, Any] | None:
            body: dict[str, Any] = (
                await client.get(f"/api/executions/{run.json()['execution_id']}", params={"payloads": "true"})
            ).json()
            return body if any(step["step"] == "dead_letter" for step in body["steps"]) else None

        execution = await eventually(with_dead_letter, "the dead letter in the lineage", timeout=10)
        failed = {step["step"]: step for step in execution["steps"] if step["status"] == "failed"}
        assert set(failed) == {"market_data", "dead_letter"}
        assert "ZZZZ" in failed["market_data"]["error"]
        assert failed["dead_letter"]["output"]["execution_id"] == run.json()["execution_id"]


async def test_killing_a_service_mid_run_delays_but_does_not_lose_the_execution(module_system: System) -> None:
    async with module_system.client(timeout=10) as client:
        created = await client.post("/api/strategies", json=_strategy("e2e-kill", render_png=False))
        pid = module_system.supervisor.pid("indicators")
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        run = await client.post(f"/api/strategies/{created.json()['id']}/run")
        execution = await finished_execution(client, run.json()["execution_id"], timeout=90)
        assert execution["status"] in {"completed", "rejected"}
        assert module_system.supervisor.restarts["indicators"] >= 1


async def test_sigterm_under_load_loses_no_execution(module_system: System) -> None:
    """Services stopped with SIGTERM mid-load finish or hand back their messages; every run ends."""
    async with module_system.client(timeout=10) as client:
        created = await client.post("/api/strategies", json=_strategy("e2e-sigterm", render_png=False))
        runs = [await client.post(f"/api/strategies/{created.json()['id']}/run") for _ in range(30)]
        await asyncio.sleep(0.3)
        for service in ("indicators", "signals"):
            pid = module_system.supervisor.pid(service)
            assert pid is not None
            os.kill(pid, signal.SIGTERM)
        for run in runs:
            execution = await finished_execution(client, run.json()["execution_id"], timeout=120)
            assert execution["status"] in {"completed", "rejected"}, execution
            assert [step["step"] for step in execution["steps"]] == STEPS


async def test_a_strategy_runs_on_its_cron(module_system: System, cron_strategy: str) -> None:
    async with module_system.client(timeout=10) as client:

        async def listed() -> list[dict[str, Any]]:
            executions: list[dict[str, Any]] = (
                await client.get("/api/executions", params={"strategy_id": cron_strategy})
            ).json()
            return [execution for execution in executions if execution["trigger"] == "schedule"]

        await eventually(listed, "the scheduler to run the strategy", timeout=75)
