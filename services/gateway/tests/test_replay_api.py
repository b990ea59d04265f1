"""POST /api/executions/{id}/replay and GET /api/executions/{id}/diff/{other_id} against real NATS and Postgres."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import httpx
from nats.aio.client import Client as NatsClient

from tests.support.http import refusal
from tests.support.messages import collect
from tradelane.contracts import subjects
from tradelane.contracts.envelope import Envelope
from tradelane.contracts.events import BarsFetched, ExecutionRequested, Trigger
from tradelane.contracts.market import Bar, ResolvedSymbol
from tradelane.contracts.strategy import AssetType, BarSize, StrategyDefinition, SymbolRef
from tradelane.gateway.state import GatewayState
from tradelane.runtime.bus import event_headers
from tradelane.runtime.payloads import bars_window
from tradelane.store.lineage import StepRecord

STRATEGY_ID = UUID(int=42)


def _request() -> ExecutionRequested:
    return ExecutionRequested(
        execution_id=uuid4(),
        strategy_id=STRATEGY_ID,
        strategy=StrategyDefinition(name="s", symbol=SymbolRef(symbol="AAPL")),
        trigger=Trigger.MANUAL,
        as_of=datetime(2026, 11, 20, tzinfo=UTC),
    )


def _bars(request: ExecutionRequested, close: float = 1.5) -> BarsFetched:
    return request.follow(
        BarsFetched,
        strategy=request.strategy,
        symbol=ResolvedSymbol(conid=1, symbol="AAPL", exchange="NASDAQ", currency="USD", asset_type=AssetType.STOCK),
        bars=bars_window(1, BarSize.DAY_1, (Bar(time=request.as_of, open=1, high=2, low=0.5, close=close, volume=10),)),
        provider="test",
    )


async def _publish_and_record(
    state: GatewayState, step: str, subject: str, event: Envelope, body: dict[str, Any] | None = None
) -> int:
    """Publish ``event`` (or ``body``, a message as an older version wrote it) and record it as the lineage does."""
    js = state.bus.jetstream
    payload = body if body is not None else event.model_dump(mode="json")
    ack = await js.publish(subject, json.dumps(payload).encode(), headers=event_headers(event))
    await state.lineage.record(
        StepRecord(
            execution_id=event.execution_id,
            strategy_id=event.strategy_id,
            step=step,
            message_id=event.message_id,
            causation_id=event.causation_id,
            subject=subject,
            stream_sequence=ack.seq,
            status="succeeded",
            payload=payload,
            occurred_at=event.occurred_at,
        )
    )
    return ack.seq


async def _run(state: GatewayState, close: float = 1.5) -> tuple[ExecutionRequested, int]:
    request = _request()
    sequence = await _publish_and_record(state, "requested", subjects.EXECUTION_REQUESTED, request)
    await _publish_and_record(state, "market_data", subjects.MARKET_DATA_FETCHED, _bars(request, close))
    return request, sequence


async def test_a_replay_is_accepted_and_republishes_the_original_with_the_overrides(
    client: httpx.AsyncClient, state: GatewayState, nats_client: NatsClient
) -> None:
    request, sequence = await _run(state)
    # the test's own client listens: the gateway may publish pipeline subjects, not read them
    heard = await collect(nats_client, subjects.EXECUTION_REQUESTED)
    response = await client.post(
        f"/api/executions/{request.execution_id}/replay", json={"prompt_version": 2, "model": "gpt-x"}
    )
    assert response.status_code == 202, response.text
    body = response.json()
    replayed = ExecutionRequested.model_validate_json((await heard.next(5)).data)
    assert str(replayed.execution_id) == body["execution_id"]
    assert replayed.replay_of == request.execution_id
    assert (replayed.strategy.analysis.prompt_version, replayed.strategy.analysis.model) == (2, "gpt-x")
    assert (body["from_step"], body["original_sequence"], body["subject"]) == (
        "requested",
        sequence,
        subjects.EXECUTION_REQUESTED,
    )
    assert body["diff_url"] == f"/api/executions/{request.execution_id}/diff/{body['execution_id']}"


def _inline_bars(request: ExecutionRequested, close: float) -> tuple[BarsFetched, dict[str, Any]]:
    """A market_data message as recorded before bars travelled by reference: the bars inline."""
    event = _bars(request, close)
    body = event.model_dump(mode="json")
    body["bars"] = [{"time": request.as_of.isoformat(), "open": 1, "high": 2, "low": 0.5, "close": close, "volume": 10}]
    return event, body


async def test_an_execution_recorded_with_inline_bars_is_read_diffed_and_replayed_from_its_request(
    client: httpx.AsyncClient, state: GatewayState
) -> None:
    runs = []
    for close in (1.5, 1.75):
        request = _request()
        await _publish_and_record(state, "requested", subjects.EXECUTION_REQUESTED, request)
        event, body = _inline_bars(request, close)
        await _publish_and_record(state, "market_data", subjects.MARKET_DATA_FETCHED, event, body)
        runs.append(request.execution_id)
    first, second = runs

    output = (await client.get(f"/api/executions/{first}/steps/market_data/output")).json()
    assert (output["message"]["bars"][0]["close"], output["payloads"]) == (1.5, {})
    diff = (await client.get(f"/api/executions/{first}/diff/{second}")).json()
    market_data = next(step for step in diff["steps"] if step["step"] == "market_data")
    assert market_data["output"]["changes"] == [
        {"path": "bars[0].close", "kind": "changed", "before": 1.5, "after": 1.75}
    ]
    assert (await client.post(f"/api/executions/{first}/replay")).status_code == 202
    refused = await client.post(f"/api/executions/{first}/replay", json={"from_step": "indicators"})
    assert refused.status_code == 409
    assert "would not satisfy BarsFetched" in refused.json()["detail"]


async def test_replaying_an_unknown_execution_is_a_404(client: httpx.AsyncClient) -> None:
    response = await client.post(f"/api/executions/{uuid4()}/replay")
    assert response.status_code == 404
    assert "no execution with id" in response.json()["detail"]


async def test_replaying_from_a_step_never_reached_is_a_409_naming_the_possible_ones(
    client: httpx.AsyncClient, state: GatewayState
) -> None:
    request, _ = await _run(state)
    response = await client.post(f"/api/executions/{request.execution_id}/replay", json={"from_step": "chart"})
    assert response.status_code == 409
    assert "steps it can be replayed from: requested, market_data, indicators" in response.json()["detail"]


async def test_replaying_a_message_that_aged_out_is_a_410_naming_the_retention(
    client: httpx.AsyncClient, state: GatewayState, nats_client: NatsClient
) -> None:
    request, sequence = await _run(state)
    await nats_client.jetstream().delete_msg(subjects.PIPELINE_STREAM, sequence)
    response = await client.post(f"/api/executions/{request.execution_id}/replay")
    assert response.status_code == 410
    assert "keeps messages for 7 days (max_age)" in response.json()["detail"]


async def test_overrides_that_cannot_take_effect_are_a_422(client: httpx.AsyncClient) -> None:
    response = await client.post(f"/api/executions/{uuid4()}/replay", json={"from_step": "signal", "cache": True})
    assert response.status_code == 422
    [problem] = response.json()["detail"]
    assert problem["loc"] == ["body", "from_step"]
    assert "replay from 'analysis'" in problem["msg"]


async def test_an_unknown_step_is_a_422(client: httpx.AsyncClient) -> None:
    response = await client.post(f"/api/executions/{uuid4()}/replay", json={"from_step": "broker"})
    assert "body.from_step: Input should be 'requested'" in refusal(response, 422)


async def test_the_diff_of_two_equal_runs_is_identical_and_lists_what_it_ignores(
    client: httpx.AsyncClient, state: GatewayState
) -> None:
    first, _ = await _run(state)
    second, _ = await _run(state)
    response = await client.get(f"/api/executions/{first.execution_id}/diff/{second.execution_id}")
    assert response.status_code == 200
    body = response.json()
    assert body["identical"] is True
    assert [step["step"] for step in body["steps"]] == ["requested", "market_data"]
    assert {"message_id", "occurred_at", "signal.expires_at"} <= set(body["ignored_fields"])


async def test_the_diff_names_each_changed_field(client: httpx.AsyncClient, state: GatewayState) -> None:
    first, _ = await _run(state, close=1.5)
    second, _ = await _run(state, close=1.75)
    body = (await client.get(f"/api/executions/{first.execution_id}/diff/{second.execution_id}")).json()
    assert body["identical"] is False
    market_data = next(step for step in body["steps"] if step["step"] == "market_data")
    changes = market_data["output"]["changes"]
    # bars travel by reference: the changed bar changes its chunk's name and the window's content hash
    assert {change["path"] for change in changes} == {"bars.chunks[0]", "bars.sha256", "bars.last_bar.close"}
    assert {"path": "bars.last_bar.close", "kind": "changed", "before": 1.5, "after": 1.75} in changes


async def test_a_diff_with_an_unknown_execution_is_a_404(client: httpx.AsyncClient, state: GatewayState) -> None:
    first, _ = await _run(state)
    missing = UUID(int=5)
    response = await client.get(f"/api/executions/{first.execution_id}/diff/{missing}")
    assert response.status_code == 404
    assert str(missing) in response.json()["detail"]


async def test_a_replay_places_orders_only_when_asked(
    client: httpx.AsyncClient, state: GatewayState, nats_client: NatsClient
) -> None:
    request, _ = await _run(state)
    heard = await collect(nats_client, subjects.EXECUTION_REQUESTED)  # the gateway may not read pipeline subjects
    plain = await client.post(f"/api/executions/{request.execution_id}/replay")
    asked = await client.post(f"/api/executions/{request.execution_id}/replay", json={"place_orders": True})
    assert (plain.status_code, asked.status_code) == (202, 202)
    first = ExecutionRequested.model_validate_json((await heard.next(5)).data)
    second = ExecutionRequested.model_validate_json((await heard.next(5)).data)
    by_execution = {str(first.execution_id): first, str(second.execution_id): second}
    assert not by_execution[plain.json()["execution_id"]].replay_places_orders
    assert by_execution[asked.json()["execution_id"]].replay_places_orders


async def test_place_orders_may_go_with_a_replay_from_the_signal_step(client: httpx.AsyncClient) -> None:
    """It is no analysis setting, so it is not refused where those are (the execution is unknown: 404, not 422)."""
    response = await client.post(
        f"/api/executions/{uuid4()}/replay", json={"from_step": "signal", "place_orders": True}
    )
    assert "no execution with id" in refusal(response, 404)
