"""Replays through every service process: from each step, and with another prompt version and model."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import System, finished_execution
from tradelane.cli.main import main

pytestmark = pytest.mark.e2e

STEPS = ["requested", "market_data", "indicators", "chart", "analysis", "signal"]


def _strategy(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "symbol": {"symbol": "AAPL"},
        "bar_size": "1 day",
        "duration": "1 Y",
        "schedule": {"cron": "0 0 1 1 *"},
        "render_png": False,
    }


async def _run_once(client: httpx.AsyncClient, name: str) -> str:
    created = await client.post("/api/strategies", json=_strategy(name))
    assert created.status_code == 201, created.text
    run = await client.post(f"/api/strategies/{created.json()['id']}/run")
    execution_id = str(run.json()["execution_id"])
    finished = await finished_execution(client, execution_id)
    assert finished["status"] in {"completed", "rejected"}, finished
    return execution_id


async def test_a_replay_from_each_step_reproduces_the_execution(module_system: System) -> None:
    """With the deterministic market and the offline analyst, every replay matches its original step for step."""
    async with module_system.client(timeout=10) as client:
        original = await _run_once(client, "e2e-replay-each-step")
        accepted = {}
        for step in STEPS:
            response = await client.post(f"/api/executions/{original}/replay", json={"from_step": step})
            assert response.status_code == 202, response.text
            accepted[step] = response.json()
        for step, replay in accepted.items():
            finished = await finished_execution(client, replay["execution_id"])
            assert finished["replay_of"] == original
            diff = (await client.get(replay["diff_url"])).json()
            assert diff["identical"], (step, [s for s in diff["steps"] if s["changed"]])
            skipped = [s["step"] for s in diff["steps"] if s["presence"] == "only_first"]
            first_republished = max(0, STEPS.index(step) - 1)
            assert skipped == STEPS[:first_republished], step
            assert all(s["presence"] != "only_second" for s in diff["steps"]), step


async def test_a_replay_with_another_prompt_version_and_model_differs_only_in_those(
    module_system: System, capsys: pytest.CaptureFixture[str]
) -> None:
    """The CLI replays from the chart step with overrides; the diff names only the overridden settings.

    The offline analyst reads neither the prompt nor the model, so its analysis is unchanged; an
    LLM analyst would also change the analysis and the signal, which the diff would then show.
    """
    async with module_system.client(timeout=10) as client:
        original = await _run_once(client, "e2e-replay-prompt")
        connection = [
            "--nats-url",
            module_system.settings.nats_url,
            "--database-url",
            module_system.settings.database_url.get_secret_value(),
        ]
        if module_system.settings.nats_credentials_file is not None:
            connection += ["--nats-credentials", str(module_system.settings.nats_credentials_file)]
        argv = ["replay", original, "--from-step", "chart", "--prompt-version", "2", "--model", "m-2", *connection]
        assert await asyncio.to_thread(main, argv) == 0
        # the supervisor logs to stdout too: the new execution's id is the line that is nothing but an id
        printed = capsys.readouterr().out.splitlines()
        [replay_id] = [line for line in printed if re.fullmatch(r"[0-9a-f-]{36}", line)]
        await finished_execution(client, replay_id)
        diff = (await client.get(f"/api/executions/{original}/diff/{replay_id}")).json()

    assert not diff["identical"]
    changed = {s["step"] for s in diff["steps"] if s["changed"]}
    assert changed == {"indicators", "chart", "analysis", "signal"}
    paths = {
        change["path"] for step in diff["steps"] for side in ("input", "output") for change in step[side]["changes"]
    }
    assert paths == {"strategy.analysis.prompt_version", "strategy.analysis.model"}
    analysis = next(s for s in diff["steps"] if s["step"] == "analysis")
    assert {c["path"]: c["after"] for c in analysis["output"]["changes"]} == {
        "strategy.analysis.prompt_version": 2,
        "strategy.analysis.model": "m-2",
    }
