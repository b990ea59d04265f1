"""The whole system pointed at a fake OpenAI-compatible server: a two-timeframe analysis in the lineage."""

from __future__ import annotations

import base64
import hashlib
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import System, finished_execution, running_system
from tradelane.runtime.settings import Settings

sys.path.insert(0, str(Path(__file__).parents[2] / "services" / "llm-analyst" / "tests"))

from llm_analyst_tests.fake_llm import FakeLlmServer, answer

pytestmark = pytest.mark.e2e

MODEL = "vision-e2e"


def reading(confidence: int) -> dict[str, Any]:
    return {
        "bias": "neutral",
        "trend": "sideways",
        "confidence": confidence,
        "support": [],
        "resistance": [],
        "suggested_entry": None,
        "suggested_stop": None,
        "suggested_targets": [],
        "key_factors": [f"reading {confidence}"],
        "reasoning": "No edge on this chart.",
    }


@pytest.fixture
async def fake_llm() -> AsyncIterator[FakeLlmServer]:
    server = FakeLlmServer()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def llm_system(settings: Settings, fake_llm: FakeLlmServer) -> AsyncIterator[System]:
    async with running_system(
        settings,
        TRADELANE_LLM_BASE_URL=fake_llm.base_url,
        TRADELANE_LLM_API_KEY="e2e-key",
        TRADELANE_LLM_MODEL=MODEL,
        TRADELANE_LLM_TIMEOUT="10",
    ) as system:
        yield system


def sent_images(request: dict[str, Any]) -> list[str]:
    """sha256 of each image a chat request carried (data URLs), in order."""
    content = request["messages"][-1]["content"]
    parts = content if isinstance(content, list) else []
    urls = [part["image_url"]["url"] for part in parts if part["type"] == "image_url"]
    return [hashlib.sha256(base64.b64decode(url.split(",", 1)[1])).hexdigest() for url in urls]


async def test_each_timeframe_is_charted_and_read_by_the_model_then_consolidated(
    llm_system: System, fake_llm: FakeLlmServer
) -> None:
    fake_llm.script(answer(reading(40)), answer(reading(50)), answer(reading(45)))
    strategy = {
        "name": "e2e-llm-two-timeframes",
        "symbol": {"symbol": "AAPL"},
        "schedule": {"cron": "0 0 1 1 *"},
        "analysis": {"analyst": "llm", "timeframes": ["1 week"]},
    }
    async with llm_system.client(timeout=10) as client:
        created = await client.post("/api/strategies", json=strategy)
        assert created.status_code == 201, created.text
        run = await client.post(f"/api/strategies/{created.json()['id']}/run")
        execution = await finished_execution(client, run.json()["execution_id"])
        assert execution["status"] in {"completed", "rejected"}, execution
        steps = {step["step"]: step for step in execution["steps"]}

        [weekly_bars] = steps["market_data"]["output"]["timeframes"]
        assert weekly_bars["bar_size"] == "1 week"
        assert weekly_bars["bars"]["count"] > 200
        [weekly_indicators] = steps["indicators"]["output"]["timeframes"]
        assert weekly_indicators["snapshot"]["latest"]["sma_200"] is not None
        chart = steps["chart"]["output"]
        [weekly_chart] = chart["timeframes"]
        assert weekly_chart["snapshot"]["bar_size"] == "1 week"
        pngs = [chart["png"]["name"], weekly_chart["png"]["name"]]
        for name in pngs:
            assert (await client.get(f"/api/charts/{name}")).content.startswith(b"\x89PNG")

        analysis = steps["analysis"]["output"]
        calls = analysis["llm_calls"]
        assert [(call["purpose"], call["timeframe"]) for call in calls] == [
            ("analysis", "1 day"),
            ("analysis", "1 week"),
            ("consolidation", "1 day"),
        ]
        assert [call["images"] for call in calls] == [[pngs[0]], [pngs[1]], []]
        assert [sent_images(request) for request in fake_llm.requests] == [[pngs[0]], [pngs[1]], []]
        assert calls[1]["replies"] == [json.dumps(reading(50))]
        assert "on the 1 week timeframe" in calls[1]["prompt"]
        assert [chart_ref["name"] for chart_ref in analysis["charts"]] == pngs
        assert (analysis["analysis"]["model"], analysis["analysis"]["confidence"]) == (MODEL, 45)

        recorded = (await client.get("/api/llm/calls", params={"execution_id": run.json()["execution_id"]})).json()
        assert [(call["timeframe"], call["status"]) for call in recorded] == [
            ("1 day", "succeeded"),
            ("1 week", "succeeded"),
            ("1 day", "succeeded"),
        ]


async def test_a_replay_with_another_prompt_version_asks_the_model_again_with_that_version(
    llm_system: System, fake_llm: FakeLlmServer
) -> None:
    """The replay from the chart step renders version 2 of the template; the model's new answer changes the analysis."""
    fake_llm.script(answer(reading(40)), answer(reading(70)))
    version_1 = "Version one: analyse {{ symbol }} on the {{ timeframe }} timeframe at {{ latest_price | price }}."
    version_2 = "Version two: read {{ symbol }} ({{ timeframe }}); RSI {{ indicators.rsi_14 | number(1) }}."
    async with llm_system.client(timeout=10) as client:
        template = await client.post(
            "/api/prompts", json={"name": "e2e-replay-template", "type": "analysis", "text": version_1}
        )
        assert template.status_code == 201, template.text
        template_id = template.json()["id"]
        updated = await client.patch(f"/api/prompts/{template_id}", json={"text": version_2})
        assert updated.status_code == 200, updated.text
        strategy = {
            "name": "e2e-llm-replay",
            "symbol": {"symbol": "AAPL"},
            "schedule": {"cron": "0 0 1 1 *"},
            "render_png": False,
            "analysis": {"analyst": "llm", "prompt_template_id": template_id, "prompt_version": 1},
        }
        created = await client.post("/api/strategies", json=strategy)
        assert created.status_code == 201, created.text
        run = await client.post(f"/api/strategies/{created.json()['id']}/run")
        original = run.json()["execution_id"]
        await finished_execution(client, original)

        replay = await client.post(
            f"/api/executions/{original}/replay", json={"from_step": "chart", "prompt_version": 2}
        )
        assert replay.status_code == 202, replay.text
        await finished_execution(client, replay.json()["execution_id"])
        diff = (await client.get(replay.json()["diff_url"])).json()

    first, second = fake_llm.requests
    assert first["messages"][1]["content"].startswith("Version one: analyse AAPL on the 1 day timeframe")
    assert second["messages"][1]["content"].startswith("Version two: read AAPL (1 day); RSI ")
    analysis = next(step for step in diff["steps"] if step["step"] == "analysis")
    changes = {change["path"]: change["after"] for change in analysis["output"]["changes"]}
    assert changes["strategy.analysis.prompt_version"] == 2
    assert changes["analysis.confidence"] == 70
    assert changes["llm_calls[0].templates[1].version"] == 2
