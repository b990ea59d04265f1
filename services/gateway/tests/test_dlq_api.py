"""/api/dlq: list, show and redrive dead letters, against a real NATS (set up by the test's own client)."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import httpx

from tradelane.contracts import subjects
from tradelane.contracts.events import ExecutionRequested, Trigger
from tradelane.contracts.strategy import StrategyDefinition, SymbolRef
from tradelane.gateway.state import GatewayState
from tradelane.runtime.bus import RECOMMENDED_MAX_PAYLOAD, EventBus, event_headers
from tradelane.runtime.deadletters import REDRIVE_PLACES_ORDERS_HEADER, dead_letter_message
from tradelane.runtime.replay import fetch_message


async def _dead_letter(bus: EventBus, error: str = "provider down") -> ExecutionRequested:
    request = ExecutionRequested(
        execution_id=uuid4(),
        strategy_id=uuid4(),
        strategy=StrategyDefinition(name="s", symbol=SymbolRef(symbol="AAPL")),
        trigger=Trigger.MANUAL,
        as_of=datetime(2026, 11, 20, tzinfo=UTC),
    )
    js = bus.jetstream
    body = request.model_dump_json().encode()
    ack = await js.publish(subjects.EXECUTION_REQUESTED, body, headers=event_headers(request))
    original = await fetch_message(js, subjects.PIPELINE_STREAM, ack.seq)
    await dead_letter_message(
        js,
        original,
        step="market_data",
        kind="retries_exhausted",
        error=error,
        deliveries=5,
        max_payload=RECOMMENDED_MAX_PAYLOAD,
    )
    return request


async def test_dead_letters_are_listed_with_why_they_gave_up(client: httpx.AsyncClient, bus: EventBus) -> None:
    request = await _dead_letter(bus)
    response = await client.get("/api/dlq")
    assert response.status_code == 200
    [listed] = response.json()
    assert listed["execution_id"] == str(request.execution_id)
    assert (listed["step"], listed["kind"], listed["deliveries"], listed["error"]) == (
        "market_data",
        "retries_exhausted",
        5,
        "provider down",
    )
    assert listed["subject"] == subjects.EXECUTION_REQUESTED


async def test_a_dead_letter_is_shown_with_its_body(client: httpx.AsyncClient, bus: EventBus) -> None:
    request = await _dead_letter(bus)
    [listed] = (await client.get("/api/dlq")).json()
    shown = (await client.get(f"/api/dlq/{listed['id']}")).json()
    assert ExecutionRequested.model_validate(shown["body"]) == request
    assert shown["headers"]["Tradelane-Step"] == "market_data"


async def test_an_unknown_dead_letter_is_a_404(client: httpx.AsyncClient, bus: EventBus) -> None:
    for response in (await client.get("/api/dlq/77"), await client.post("/api/dlq/77/redrive")):
        assert response.status_code == 404
        assert "no dead letter 77" in response.json()["detail"]


async def test_a_redriven_dead_letter_leaves_the_list(client: httpx.AsyncClient, bus: EventBus) -> None:
    await _dead_letter(bus)
    [listed] = (await client.get("/api/dlq")).json()
    response = await client.post(f"/api/dlq/{listed['id']}/redrive")
    assert response.status_code == 200
    assert (response.json()["subject"], response.json()["stream"]) == (subjects.EXECUTION_REQUESTED, "PIPELINE")
    assert (await client.get("/api/dlq")).json() == []


async def test_redrive_all_redrives_each_one(client: httpx.AsyncClient, bus: EventBus) -> None:
    for _ in range(3):
        await _dead_letter(bus)
    response = await client.post("/api/dlq/redrive-all")
    assert response.status_code == 200
    assert [item["id"] for item in response.json()["redriven"]] == [1, 2, 3]
    assert response.json()["not_redriven"] == []
    assert (await client.get("/api/dlq")).json() == []


async def test_a_redrive_lets_a_signal_trade_only_when_asked(
    client: httpx.AsyncClient, state: GatewayState, bus: EventBus
) -> None:
    await _dead_letter(bus)
    await _dead_letter(bus)
    first, second = (await client.get("/api/dlq")).json()
    assert (await client.post(f"/api/dlq/{first['id']}/redrive")).status_code == 200
    assert (await client.post(f"/api/dlq/{second['id']}/redrive", params={"place_orders": "true"})).status_code == 200
    js = state.bus.jetstream
    info = await js.stream_info(subjects.PIPELINE_STREAM)
    flags = [
        (await js.get_msg(subjects.PIPELINE_STREAM, sequence)).headers or {}
        for sequence in range(info.state.last_seq - 1, info.state.last_seq + 1)
    ]
    assert [headers[REDRIVE_PLACES_ORDERS_HEADER] for headers in flags] == ["false", "true"]
    assert (await client.get("/api/dlq")).json() == []


async def test_redrive_all_sends_at_most_limit_and_reports_how_many_are_left(
    client: httpx.AsyncClient, bus: EventBus
) -> None:
    for _ in range(3):
        await _dead_letter(bus)
    response = await client.post("/api/dlq/redrive-all", params={"limit": 2})
    assert [item["id"] for item in response.json()["redriven"]] == [1, 2]
    assert response.json()["remaining"] == 1
    assert [item["id"] for item in (await client.get("/api/dlq")).json()] == [3]


async def test_redrive_all_refuses_a_limit_above_the_cap(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/dlq/redrive-all", params={"limit": 101})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "limit"]
