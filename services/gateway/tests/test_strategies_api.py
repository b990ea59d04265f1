"""/api/strategies: CRUD, validation that names the field, and manual runs landing on JetStream."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import httpx
from nats.aio.client import Client as NatsClient

from tests.support.http import refusal
from tests.support.messages import collect
from tradelane.contracts import subjects
from tradelane.contracts.events import ExecutionRequested, Trigger
from tradelane.runtime.bus import MESSAGE_ID_HEADER


def _definition(name: str = "AAPL daily", **overrides: Any) -> dict[str, Any]:
    return {
        "name": name,
        "symbol": {"symbol": "AAPL"},
        "bar_size": "1 day",
        "schedule": {"cron": "0 16 * * 1-5", "timezone": "America/New_York"},
        **overrides,
    }


def _locs(response: httpx.Response) -> list[list[str | int]]:
    assert response.status_code == 422, response.text
    return [item["loc"] for item in response.json()["detail"]]


async def _create(client: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    response = await client.post("/api/strategies", json=_definition(**overrides))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def test_create_returns_the_stored_strategy_with_its_next_run(client: httpx.AsyncClient) -> None:
    created = await _create(client)
    assert UUID(created["id"])
    assert created["version"] == 1
    assert created["definition"]["name"] == "AAPL daily"
    assert created["definition"]["schedule"]["timezone"] == "America/New_York"
    assert created["next_run_at"] is not None
    assert created["created_at"] and created["updated_at"]


async def test_an_inactive_strategy_has_no_next_run(client: httpx.AsyncClient) -> None:
    created = await _create(client, active=False)
    assert created["next_run_at"] is None


async def test_get_returns_what_create_stored(client: httpx.AsyncClient) -> None:
    created = await _create(client)
    response = await client.get(f"/api/strategies/{created['id']}")
    assert response.status_code == 200
    assert response.json() == created


async def test_list_filters_by_active(client: httpx.AsyncClient) -> None:
    await _create(client, name="on")
    await _create(client, name="off", active=False)
    every = await client.get("/api/strategies")
    active = await client.get("/api/strategies", params={"active": "true"})
    paused = await client.get("/api/strategies", params={"active": "false"})
    assert [s["definition"]["name"] for s in every.json()] == ["off", "on"]
    assert [s["definition"]["name"] for s in active.json()] == ["on"]
    assert [s["definition"]["name"] for s in paused.json()] == ["off"]


async def test_update_replaces_the_definition_and_increments_the_version(client: httpx.AsyncClient) -> None:
    created = await _create(client)
    response = await client.put(
        f"/api/strategies/{created['id']}",
        json=_definition(name="AAPL hourly", bar_size="1 hour", duration="30 D"),
    )
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["version"] == 2
    assert updated["definition"]["bar_size"] == "1 hour"
    assert (await client.get(f"/api/strategies/{created['id']}")).json()["definition"]["name"] == "AAPL hourly"


async def test_delete_removes_the_strategy(client: httpx.AsyncClient) -> None:
    created = await _create(client)
    deleted = await client.delete(f"/api/strategies/{created['id']}")
    assert deleted.status_code == 204
    assert f"no strategy with id {created['id']}" in refusal(await client.get(f"/api/strategies/{created['id']}"), 404)


async def test_invalid_cron_is_a_422_at_schedule_cron_saying_what_is_wrong(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/strategies", json=_definition(schedule={"cron": "61 * * * *", "timezone": "UTC"})
    )
    assert _locs(response) == [["body", "schedule", "cron"]]
    assert "its minute field '61' is not valid: minute values are 0-59" in response.json()["detail"][0]["msg"]


async def test_update_with_invalid_cron_is_a_422_at_schedule_cron(client: httpx.AsyncClient) -> None:
    created = await _create(client)
    response = await client.put(
        f"/api/strategies/{created['id']}", json=_definition(schedule={"cron": "0 0 31 2 *", "timezone": "UTC"})
    )
    assert _locs(response) == [["body", "schedule", "cron"]]


async def test_unknown_indicator_kind_is_a_422_at_the_indicator(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/strategies", json=_definition(indicators=[{"kind": "ichimoku"}]))
    assert _locs(response) == [["body", "indicators", 0]]
    assert "ichimoku" in response.json()["detail"][0]["msg"]


async def test_a_bad_indicator_parameter_is_a_422_at_that_parameter(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/strategies", json=_definition(indicators=[{"kind": "rsi", "period": 1}]))
    assert _locs(response) == [["body", "indicators", 0, "rsi", "period"]]


async def test_unknown_bar_size_is_a_422_at_bar_size(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/strategies", json=_definition(bar_size="3 days"))
    assert _locs(response) == [["body", "bar_size"]]


async def test_empty_symbol_is_a_422_at_symbol(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/strategies", json=_definition(symbol={"symbol": ""}))
    assert _locs(response) == [["body", "symbol", "symbol"]]


async def test_a_duplicate_name_is_a_409_naming_it(client: httpx.AsyncClient) -> None:
    await _create(client)
    response = await client.post("/api/strategies", json=_definition())
    assert response.status_code == 409
    assert "AAPL daily" in response.json()["detail"]


async def test_renaming_onto_a_taken_name_is_a_409(client: httpx.AsyncClient) -> None:
    await _create(client, name="first")
    second = await _create(client, name="second")
    response = await client.put(f"/api/strategies/{second['id']}", json=_definition(name="first"))
    assert "a strategy named 'first' already exists" in refusal(response, 409)


async def test_unknown_id_is_a_404_for_every_verb(client: httpx.AsyncClient) -> None:
    path = f"/api/strategies/{uuid4()}"
    responses = [
        await client.get(path),
        await client.put(path, json=_definition()),
        await client.delete(path),
        await client.post(f"{path}/run"),
    ]
    assert [r.status_code for r in responses] == [404, 404, 404, 404]
    assert all("GET /api/strategies" in r.json()["detail"] for r in responses)


async def test_an_id_that_is_not_a_uuid_is_a_422(client: httpx.AsyncClient) -> None:
    assert _locs(await client.get("/api/strategies/42")) == [["path", "strategy_id"]]


async def test_run_publishes_a_manual_execution_request_on_jetstream(
    client: httpx.AsyncClient, nats_client: NatsClient
) -> None:
    created = await _create(client, active=False)
    response = await client.post(f"/api/strategies/{created['id']}/run")
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["status_url"] == f"/api/executions/{accepted['execution_id']}"

    requested = await collect(nats_client, subjects.EXECUTION_REQUESTED, from_stream=True)
    message = await requested.next(5)
    request = ExecutionRequested.model_validate_json(message.data)
    assert request.execution_id == UUID(accepted["execution_id"])
    assert request.strategy_id == UUID(created["id"])
    assert request.trigger is Trigger.MANUAL
    assert request.strategy.name == "AAPL daily"
    assert request.strategy.active is False
    assert message.headers is not None
    assert message.headers[MESSAGE_ID_HEADER] == str(request.message_id)
