"""/api/executions and /api/lineage: what the lineage recorded, as the UI reads it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import httpx

from tradelane.contracts import subjects
from tradelane.gateway.state import GatewayState
from tradelane.store.lineage import ExecutionStatus, ExecutionTrigger, StepRecord, StepStatus

NOW = datetime.now(UTC)


def _step(
    execution_id: UUID,
    step: str,
    *,
    strategy_id: UUID | None = None,
    status: StepStatus = "succeeded",
    execution_status: ExecutionStatus = "running",
    message_id: UUID | None = None,
    causation_id: UUID | None = None,
    payload: dict[str, Any] | None = None,
    error: str | None = None,
    duration_ms: float | None = None,
    occurred_at: datetime = NOW,
    subject: str = subjects.INDICATORS_COMPUTED,
    trigger: ExecutionTrigger = "manual",
) -> StepRecord:
    return StepRecord(
        execution_id=execution_id,
        strategy_id=strategy_id or uuid4(),
        step=step,
        message_id=message_id or uuid4(),
        causation_id=causation_id,
        subject=subject,
        stream_sequence=7,
        status=status,
        payload=payload or {"step": step},
        occurred_at=occurred_at,
        error=error,
        duration_ms=duration_ms,
        execution_status=execution_status,
        trigger=trigger,
    )


async def test_list_returns_recent_executions_newest_first(client: httpx.AsyncClient, state: GatewayState) -> None:
    older, newer = uuid4(), uuid4()
    await state.lineage.record(_step(older, "requested", occurred_at=NOW - timedelta(minutes=5)))
    await state.lineage.record(_step(newer, "requested"))
    response = await client.get("/api/executions")
    assert response.status_code == 200
    assert [e["execution_id"] for e in response.json()] == [str(newer), str(older)]
    assert response.json()[0]["status"] == "running"
    assert response.json()[0]["trigger"] == "manual"


async def test_list_filters_by_strategy_and_status(client: httpx.AsyncClient, state: GatewayState) -> None:
    strategy = uuid4()
    done, running, other = uuid4(), uuid4(), uuid4()
    await state.lineage.record(_step(done, "signal", strategy_id=strategy, execution_status="completed"))
    await state.lineage.record(_step(running, "requested", strategy_id=strategy))
    await state.lineage.record(_step(other, "signal", execution_status="completed"))
    response = await client.get("/api/executions", params={"strategy_id": str(strategy), "status": "completed"})
    assert [e["execution_id"] for e in response.json()] == [str(done)]


async def test_list_filters_by_trigger_and_start_time(client: httpx.AsyncClient, state: GatewayState) -> None:
    """``since`` takes the executions started at or after it, ``until`` those started before it."""
    replayed_at = NOW - timedelta(minutes=1)
    replayed, scheduled, older_replay = uuid4(), uuid4(), uuid4()
    await state.lineage.record(_step(replayed, "requested", trigger="replay", occurred_at=replayed_at))
    await state.lineage.record(
        _step(scheduled, "requested", trigger="schedule", occurred_at=NOW - timedelta(seconds=30))
    )
    await state.lineage.record(_step(older_replay, "requested", trigger="replay", occurred_at=NOW - timedelta(hours=2)))

    async def listed(**params: datetime | str) -> list[str]:
        query = {name: value.isoformat() if isinstance(value, datetime) else value for name, value in params.items()}
        response = await client.get("/api/executions", params=query)
        assert response.status_code == 200, response.text
        return [execution["execution_id"] for execution in response.json()]

    hour_ago = NOW - timedelta(hours=1)
    assert await listed(trigger="replay") == [str(replayed), str(older_replay)]
    assert await listed(since=hour_ago) == [str(scheduled), str(replayed)]
    assert await listed(trigger="replay", since=hour_ago) == [str(replayed)]
    assert await listed(trigger="replay", until=hour_ago) == [str(older_replay)]
    assert await listed(trigger="replay", since=replayed_at, until=NOW) == [str(replayed)]
    assert await listed(trigger="replay", since=hour_ago, until=replayed_at) == []


async def test_list_pages_with_limit_and_offset(client: httpx.AsyncClient, state: GatewayState) -> None:
    ids = [uuid4() for _ in range(3)]
    for age, execution_id in enumerate(ids):
        await state.lineage.record(_step(execution_id, "requested", occurred_at=NOW - timedelta(minutes=age)))
    response = await client.get("/api/executions", params={"limit": 1, "offset": 1})
    assert [e["execution_id"] for e in response.json()] == [str(ids[1])]


async def test_list_refuses_bad_query_values_naming_them(client: httpx.AsyncClient) -> None:
    responses = {
        "status": await client.get("/api/executions", params={"status": "lost"}),
        "limit": await client.get("/api/executions", params={"limit": 501}),
        "offset": await client.get("/api/executions", params={"offset": -1}),
        "trigger": await client.get("/api/executions", params={"trigger": "cron"}),
        "since": await client.get("/api/executions", params={"since": "2026-12-05T10:00"}),
        "until": await client.get("/api/executions", params={"until": "yesterday"}),
    }
    for name, response in responses.items():
        assert response.status_code == 422, name
        assert response.json()["detail"][0]["loc"] == ["query", name]
    assert "timezone" in responses["since"].json()["detail"][0]["msg"]
    backwards = await client.get(
        "/api/executions", params={"since": "2026-12-05T12:00:00Z", "until": "2026-12-05T10:00:00Z"}
    )
    assert backwards.status_code == 422
    assert backwards.json()["detail"][0]["loc"] == ["query", "since"]
    assert "must be before until" in backwards.json()["detail"][0]["msg"]


async def test_the_list_filters_are_documented_in_the_openapi(client: httpx.AsyncClient) -> None:
    operation = (await client.get("/openapi.json")).json()["paths"]["/api/executions"]["get"]
    parameters = {parameter["name"]: parameter for parameter in operation["parameters"]}
    trigger = parameters["trigger"]["schema"]["anyOf"][0]
    assert trigger["enum"] == ["schedule", "manual", "replay", "backtest", "manual_order", "trading_state"]
    for name in ("trigger", "since", "until"):
        assert parameters[name]["description"], name
    assert parameters["since"]["schema"]["anyOf"][0]["format"] == "date-time"
    assert "422" in operation["responses"]


async def test_detail_shows_each_step_with_its_input_and_output(client: httpx.AsyncClient, state: GatewayState) -> None:
    execution_id, requested_id = uuid4(), uuid4()
    await state.lineage.record(
        _step(
            execution_id,
            "requested",
            message_id=requested_id,
            payload={"trigger": "manual"},
            subject=subjects.EXECUTION_REQUESTED,
        )
    )
    await state.lineage.record(
        _step(
            execution_id,
            "market_data",
            causation_id=requested_id,
            payload={"provider": "simulated"},
            duration_ms=12.5,
            subject=subjects.MARKET_DATA_FETCHED,
            occurred_at=NOW + timedelta(seconds=1),
        )
    )
    response = await client.get(f"/api/executions/{execution_id}", params={"payloads": "true"})
    assert response.status_code == 200
    detail = response.json()
    assert detail["status"] == "running"
    assert [s["step"] for s in detail["steps"]] == ["requested", "market_data"]
    fetched = detail["steps"][1]
    assert fetched["input"] == {"trigger": "manual"}
    assert fetched["output"] == {"provider": "simulated"}
    assert fetched["duration_ms"] == 12.5
    assert fetched["subject"] == subjects.MARKET_DATA_FETCHED
    assert fetched["stream_sequence"] == 7
    assert fetched["error"] is None


async def test_detail_of_a_failed_execution_carries_the_error(client: httpx.AsyncClient, state: GatewayState) -> None:
    execution_id = uuid4()
    await state.lineage.record(
        _step(execution_id, "failed", status="failed", execution_status="failed", error="no bars for ZZZZ")
    )
    detail = (await client.get(f"/api/executions/{execution_id}")).json()
    assert detail["status"] == "failed"
    assert detail["error"] == "no bars for ZZZZ"
    assert detail["steps"][0]["error"] == "no bars for ZZZZ"
    assert detail["finished_at"] is not None


async def test_detail_of_an_unknown_execution_is_a_404(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/api/executions/{uuid4()}")
    assert response.status_code == 404
    assert "GET /api/executions" in response.json()["detail"]


async def test_statistics_count_durations_and_errors_of_one_step(
    client: httpx.AsyncClient, state: GatewayState
) -> None:
    for duration in (10.0, 30.0):
        await state.lineage.record(_step(uuid4(), "indicators", duration_ms=duration))
    await state.lineage.record(_step(uuid4(), "indicators", status="failed", error="too few bars", duration_ms=20.0))
    await state.lineage.record(_step(uuid4(), "chart", duration_ms=999.0))
    await state.lineage.record(_step(uuid4(), "indicators", duration_ms=5.0, occurred_at=NOW - timedelta(days=2)))

    response = await client.get("/api/lineage/steps/indicators/statistics")
    assert response.status_code == 200
    stats = response.json()
    assert (stats["count"], stats["succeeded"], stats["failed"]) == (3, 2, 1)
    assert stats["success_rate"] == 0.6667
    assert (stats["duration_ms_min"], stats["duration_ms_avg"], stats["duration_ms_max"]) == (10.0, 20.0, 30.0)
    assert 20.0 < stats["duration_ms_p95"] <= 30.0
    assert stats["top_errors"] == [{"error": "too few bars", "count": 1}]


async def test_statistics_since_widens_the_window(client: httpx.AsyncClient, state: GatewayState) -> None:
    await state.lineage.record(_step(uuid4(), "chart", occurred_at=NOW - timedelta(days=2)))
    since = (NOW - timedelta(days=3)).isoformat()
    stats = (await client.get("/api/lineage/steps/chart/statistics", params={"since": since})).json()
    assert stats["count"] == 1
    assert datetime.fromisoformat(stats["since"]) == datetime.fromisoformat(since)


async def test_statistics_of_a_quiet_step_are_zero(client: httpx.AsyncClient) -> None:
    stats = (await client.get("/api/lineage/steps/signal/statistics")).json()
    assert (stats["count"], stats["success_rate"], stats["top_errors"]) == (0, None, [])


async def test_statistics_of_an_unknown_step_is_a_422_listing_the_steps(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/lineage/steps/teleport/statistics")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path", "step"]
    assert "market_data" in response.json()["detail"][0]["msg"]


async def test_statistics_refuse_a_since_without_time_zone(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/lineage/steps/chart/statistics", params={"since": "2025-01-01T00:00:00"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "since"]


async def test_detail_leaves_the_payloads_out_unless_asked_and_summarizes_each_output(
    client: httpx.AsyncClient, state: GatewayState
) -> None:
    execution_id = uuid4()
    output = {
        "execution_id": str(execution_id),
        "provider": "simulated",
        "bars": [{"close": 1.0}] * 300,
        "signal": {"action": "BUY", "entry": "61000", "reasons": ["trend"]},
        "reasoning": "x" * 1000,
    }
    await state.lineage.record(_step(execution_id, "signal", payload=output, subject=subjects.SIGNAL_GENERATED))
    step = (await client.get(f"/api/executions/{execution_id}")).json()["steps"][0]
    assert (step["input"], step["output"]) == (None, None)
    assert step["summary"] == {
        "provider": "simulated",
        "bars": "[300 items]",
        "signal.action": "BUY",
        "signal.entry": "61000",
        "signal.reasons": "[1 items]",
        "reasoning": "x" * 199 + "…",
    }
