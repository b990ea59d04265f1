"""A vision-model backtest end to end, on IB history (the fake TWS) and a model server (the fake one), both on loopback.

One module, one system, three claims of the issue in order:

1. point in time: a price spike planted in the history after time t reaches no decision at or before t - not
   its bars, its indicators, its chart or its prompt - and reaches the first decision after it (so the test can
   fail);
2. an A/B comparison of two prompt versions on identical decisions, with its bootstrap intervals and a report;
3. the same backtest again: no model call, no cost, identical results; and IB asked for history only once.
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import System, running_system
from tests.support.waiting import eventually
from tradelane.ib.testing import AAPL, FakeTws, In, daily_bars
from tradelane.runtime.settings import Settings

sys.path.insert(0, str(Path(__file__).parents[2] / "services" / "llm-analyst" / "tests"))

from llm_analyst_tests.fake_llm import FakeLlmServer, answer

pytestmark = pytest.mark.e2e

MODEL = "vision-backtest"
SPIKE = 987.65
"""A price the market never trades near (it wanders around 200): seen anywhere, it is the spike."""
FIRST_DAY = datetime(2025, 1, 6, tzinfo=UTC)
SPIKE_AT = 280
"""The index of the bar that spikes (its high and close), among 300 weekday bars from FIRST_DAY."""
_PLAIN = daily_bars(FIRST_DAY, 300, 200.0)
HISTORY = [
    *_PLAIN[:SPIKE_AT],
    replace(_PLAIN[SPIKE_AT], high=SPIKE, close=SPIKE),
    *_PLAIN[SPIKE_AT + 1 :],
]
SPIKE_STARTS = HISTORY[SPIKE_AT].time
SPIKE_CLOSES = SPIKE_STARTS + timedelta(days=1)
START = HISTORY[SPIKE_AT - 2].time
END = HISTORY[SPIKE_AT + 2].time + timedelta(days=1)
"""Decisions at the close of the bars around the spike: three before it closed (the last as it opens), one as it
closes, two after; six per variant, each through every service twice (the backtest and its rerun)."""
VERSION_1 = "Version one: {{ symbol }} on the {{ timeframe }} chart closed at {{ latest_price | price }}."
VERSION_2 = "Version two: read {{ symbol }} ({{ timeframe }}), last {{ latest_price | price }}; be careful."


def bullish() -> dict[str, Any]:
    return {
        "bias": "bullish",
        "trend": "uptrend",
        "confidence": 70,
        "support": [],
        "resistance": [],
        "suggested_entry": None,
        "suggested_stop": None,
        "suggested_targets": [],
        "key_factors": ["higher lows"],
        "reasoning": "Buyers keep stepping in.",
    }


@pytest.fixture
async def tws() -> AsyncIterator[FakeTws]:
    async with FakeTws([AAPL], {AAPL.conid: HISTORY}) as server:
        yield server


@pytest.fixture
async def fake_llm() -> AsyncIterator[FakeLlmServer]:
    server = FakeLlmServer()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def backtest_system(settings: Settings, tws: FakeTws, fake_llm: FakeLlmServer) -> AsyncIterator[System]:
    async with running_system(
        settings,
        TRADELANE_MARKET_DATA_PROVIDER="ib",
        TRADELANE_IB_HOST=tws.host,
        TRADELANE_IB_PORT=str(tws.port),
        TRADELANE_IB_CLIENT_ID="41",
        TRADELANE_IB_TIMEOUT="3",
        TRADELANE_IB_IDENTICAL_REQUEST_GAP_SECONDS="0",
        TRADELANE_LLM_BASE_URL=fake_llm.base_url,
        TRADELANE_LLM_API_KEY="e2e-key",
        TRADELANE_LLM_MODEL=MODEL,
        TRADELANE_LLM_TIMEOUT="10",
        TRADELANE_LLM_PRICES=json.dumps({MODEL: {"input_per_million": "2.50", "output_per_million": "10.00"}}),
    ) as system:
        yield system


async def _strategy(client: httpx.AsyncClient) -> str:
    """A daily AAPL strategy read by the model, with a prompt template of two versions."""
    template = await client.post("/api/prompts", json={"name": "bt-template", "type": "analysis", "text": VERSION_1})
    assert template.status_code == 201, template.text
    updated = await client.patch(f"/api/prompts/{template.json()['id']}", json={"text": VERSION_2})
    assert updated.status_code == 200, updated.text
    created = await client.post(
        "/api/strategies",
        json={
            "name": "bt-vision",
            "symbol": {"symbol": "AAPL"},
            "bar_size": "1 day",
            "duration": "1 Y",
            "schedule": {"cron": "0 0 1 1 *"},
            "analysis": {"analyst": "llm", "prompt_template_id": template.json()["id"]},
        },
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def _backtest(client: httpx.AsyncClient, strategy_id: str) -> dict[str, Any]:
    """Compare the template's two versions over the period; the backtest once completed."""
    started = await client.post(
        "/api/backtests",
        json={
            "strategy_id": strategy_id,
            "start": START.isoformat(),
            "end": END.isoformat(),
            "cadence": "bar",
            "variants": [{"prompt_version": 1}, {"prompt_version": 2}],
            "budget_usd": "5",
        },
    )
    assert started.status_code == 202, started.text
    backtest_id = started.json()["backtest_id"]

    async def completed() -> dict[str, Any] | None:
        detail = (await client.get(f"/api/backtests/{backtest_id}")).json()
        assert detail["backtest"]["status"] not in {"failed", "stopped"}, detail["backtest"]
        return dict(detail) if detail["backtest"]["status"] == "completed" else None

    return await eventually(completed, f"backtest {backtest_id} to complete", timeout=240)


async def _step_output(client: httpx.AsyncClient, execution_id: str, step: str) -> dict[str, Any]:
    response = await client.get(f"/api/executions/{execution_id}/steps/{step}/output")
    assert response.status_code == 200, response.text
    return dict(response.json())


async def _what_the_decision_saw(client: httpx.AsyncClient, execution_id: str) -> dict[str, str]:
    """The decision's bars, indicator series, chart figure and prompt, each as text to look for the spike in."""
    bars = await _step_output(client, execution_id, "market_data")
    indicators = await _step_output(client, execution_id, "indicators")
    chart = await _step_output(client, execution_id, "chart")
    figure = await client.get(f"/api/charts/{chart['message']['figure']['name']}")
    assert figure.status_code == 200, figure.text
    analysis = await _step_output(client, execution_id, "analysis")
    return {
        "bars": json.dumps(bars["payloads"]),
        "indicators": json.dumps(indicators["payloads"]),
        "chart": figure.text,
        "prompt": " ".join(call["prompt"] for call in analysis["message"]["llm_calls"]),
    }


def _spike_in(seen: dict[str, str]) -> set[str]:
    return {where for where, text in seen.items() if str(SPIKE) in text}


def _decided(result: dict[str, Any]) -> dict[str, Any]:
    """A result without what a rerun changes by design: the execution ids its trades name (a new backtest runs new
    executions) and the model cost (the rerun pays nothing)."""
    for variant in result["variants"]:
        variant["metrics"].pop("model_cost")
        for trade in variant["trades"]:
            trade.pop("execution_id")
    result["comparison"] = [row for row in result["comparison"] if row["metric"] != "model_cost"]
    return result


async def test_point_in_time_a_compared_prompt_pair_and_a_free_identical_rerun(
    backtest_system: System, fake_llm: FakeLlmServer, tws: FakeTws
) -> None:
    fake_llm.script(*(answer(bullish()) for _ in range(40)))
    async with backtest_system.client(timeout=30) as client:
        strategy_id = await _strategy(client)
        first = await _backtest(client, strategy_id)
        decisions = first["decisions"]
        assert {d["variant"] for d in decisions} == {"prompt_version=1", "prompt_version=2", "offline"}
        asked = len([d for d in decisions if d["variant"] != "offline"])
        assert asked >= 2 * 6, decisions
        assert {d["status"] for d in decisions} == {"done"}, [d["error"] for d in decisions]

        # 1. point in time: nothing of the spike before it closed, in any of the four; all of it after
        for decision in (d for d in decisions if d["variant"] == "prompt_version=1"):
            decided_at = datetime.fromisoformat(decision["decided_at"])
            seen = _spike_in(await _what_the_decision_saw(client, decision["execution_id"]))
            if decided_at < SPIKE_CLOSES:
                assert seen == set(), f"the decision at {decided_at} (spike closes {SPIKE_CLOSES}) saw it in {seen}"
            elif decided_at == SPIKE_CLOSES:  # the spike is the last close: the prompt names it too
                assert seen == {"bars", "indicators", "chart", "prompt"}, f"the decision at the spike saw it in {seen}"
            else:
                assert {"bars", "chart"} <= seen, f"the decision at {decided_at} saw the spike only in {seen}"
        assert SPIKE_CLOSES in {datetime.fromisoformat(d["decided_at"]) for d in decisions}

        # 2. the comparison of the two versions, with intervals, and the report
        summary = first["backtest"]
        assert summary["progress"]["cache_misses"] == asked
        assert float(summary["progress"]["cost_usd"]) > 0
        assert len(fake_llm.requests) == asked
        result = first["result"]
        metrics = {difference["metric"] for difference in result["comparison"]}
        assert {"total_return", "sharpe", "max_drawdown"} <= metrics
        report = await client.get(f"/api/backtests/{summary['id']}/report")
        assert report.status_code == 200, report.text
        assert "prompt_version=2" in report.text
        assert "<script" not in report.text
        for variant in result["variants"]:
            if variant["variant"] == "offline":
                continue
            assert f"Price, with the trades of {variant['variant']}" in report.text
            assert f"Best and worst decisions of {variant['variant']}" in report.text
            assert (f"Best decision of {variant['variant']}" in report.text) == bool(variant["trades"])

        # 3. the same again: answered from the cache, at no cost, with the same result; IB was asked once
        again = await _backtest(client, strategy_id)
        assert len(fake_llm.requests) == asked, "the rerun asked the model"
        progress = again["backtest"]["progress"]
        assert (progress["cache_misses"], progress["cache_hits"], float(progress["cost_usd"])) == (
            0,
            asked,
            0.0,
        )
        assert {variant["metrics"]["model_cost"] for variant in again["result"]["variants"]} <= {"0", None}
        assert _decided(again["result"]) == _decided(result)
    assert len(tws.requests_of(In.REQ_HISTORICAL_DATA)) <= 2
