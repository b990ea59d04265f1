"""/api/llm: usage and cost by strategy, model and day, and the recorded calls."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import UUID, uuid4

import httpx

from tradelane.contracts.envelope import utc_now
from tradelane.gateway.state import GatewayState
from tradelane.store.llm import CallRecord


def _call(
    strategy_id: UUID, *, model: str = "gpt-4o", at: datetime | None = None, execution_id: UUID | None = None
) -> CallRecord:
    return CallRecord(
        id=uuid4(),
        execution_id=execution_id or uuid4(),
        strategy_id=strategy_id,
        purpose="analysis",
        timeframe="1 day",
        provider="api.openai.com",
        model=model,
        status="succeeded",
        cached=False,
        tokens_in=1000,
        tokens_out=200,
        latency_ms=900.0,
        cost=Decimal("0.0045"),
        error=None,
        record={"prompt": "Analyse AAPL", "replies": ["{}"]},
        occurred_at=at or utc_now(),
    )


async def test_usage_sums_tokens_and_cost_by_strategy_model_and_day(
    client: httpx.AsyncClient, state: GatewayState
) -> None:
    created = await client.post("/api/strategies", json={"name": "aapl", "symbol": {"symbol": "AAPL"}})
    strategy_id = UUID(created.json()["id"])
    for call in (_call(strategy_id), _call(strategy_id), _call(strategy_id, model="llava")):
        await state.llm.record_call(call)
    response = await client.get("/api/llm/usage")
    assert response.status_code == 200, response.text
    body = response.json()
    rows = {(row["strategy_name"], row["model"]): row for row in body["rows"]}
    assert rows[("aapl", "gpt-4o")]["calls"] == 2
    assert rows[("aapl", "gpt-4o")]["tokens_in"] == 2000
    assert Decimal(rows[("aapl", "gpt-4o")]["cost"]) == Decimal("0.009")
    assert body["totals"]["calls"] == 3
    assert Decimal(body["totals"]["cost"]) == Decimal("0.0135")


async def test_usage_keeps_to_its_window_and_filters(client: httpx.AsyncClient, state: GatewayState) -> None:
    strategy_id = uuid4()
    await state.llm.record_call(_call(strategy_id))
    await state.llm.record_call(_call(strategy_id, at=utc_now() - timedelta(days=60)))
    await state.llm.record_call(_call(uuid4()))
    response = await client.get("/api/llm/usage", params={"strategy_id": str(strategy_id), "model": "gpt-4o"})
    assert response.json()["totals"]["calls"] == 1


async def test_usage_with_since_after_until_is_refused(client: httpx.AsyncClient) -> None:
    now = datetime.now(UTC)
    params = {"since": now.isoformat(), "until": (now - timedelta(days=1)).isoformat()}
    response = await client.get("/api/llm/usage", params=params)
    assert response.status_code == 422
    assert "must be before until" in response.json()["detail"][0]["msg"]


async def test_the_calls_of_an_execution_come_with_their_record(client: httpx.AsyncClient, state: GatewayState) -> None:
    execution_id = uuid4()
    await state.llm.record_call(_call(uuid4(), execution_id=execution_id))
    await state.llm.record_call(_call(uuid4()))
    response = await client.get("/api/llm/calls", params={"execution_id": str(execution_id)})
    [call] = response.json()
    assert call["record"]["replies"] == ["{}"]
    assert call["execution_id"] == str(execution_id)
