"""POST /api/risk/halt and /resume publish the change of the trading state on the bus, once per change.

The route awaits JetStream's acknowledgement, so the event is stored by the time it answers.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from nats.aio.client import Client as NatsClient
from structlog.testing import capture_logs

from tradelane.contracts import subjects
from tradelane.gateway.state import GatewayState


async def _state_changes(client: NatsClient) -> list[dict[str, Any]]:
    """Every TradingStateChanged in the TRADING stream, oldest first."""
    js = client.jetstream()
    info = await js.stream_info(subjects.TRADING_STREAM)
    changes: list[dict[str, Any]] = []
    if not info.state.messages:
        return changes
    for sequence in range(info.state.first_seq, info.state.last_seq + 1):
        message = await js.get_msg(subjects.TRADING_STREAM, sequence)
        if message.subject == subjects.TRADING_STATE_CHANGED:
            changes.append(json.loads(message.data or b"{}"))
    return changes


async def test_the_kill_switch_publishes_the_halt_with_who_and_why(
    client: httpx.AsyncClient, nats_client: NatsClient
) -> None:
    response = await client.post("/api/risk/halt", json={"reason": "checking a data problem"})
    assert response.status_code == 200, response.text
    [halt] = await _state_changes(nats_client)  # stored before the route answered
    assert (halt["previous_state"], halt["state"], halt["changed_by"], halt["reason"]) == (
        "ACTIVE",
        "HALTED",
        "api",
        "checking a data problem",
    )
    assert halt["execution_id"] == halt["message_id"]


async def test_a_second_halt_is_no_change_and_a_resume_is_one(
    client: httpx.AsyncClient, nats_client: NatsClient
) -> None:
    await client.post("/api/risk/halt", json={"reason": "first"})
    await client.post("/api/risk/halt", json={"reason": "again"})
    resumed = await client.post("/api/risk/resume", json={"state": "REDUCING", "reason": "wind down"})
    assert resumed.status_code == 200, resumed.text
    assert [(change["previous_state"], change["state"]) for change in await _state_changes(nats_client)] == [
        ("ACTIVE", "HALTED"),
        ("HALTED", "REDUCING"),
    ]


async def test_the_kill_switch_halts_while_nats_is_down_and_says_so_in_the_log(
    client: httpx.AsyncClient, state: GatewayState, nats_client: NatsClient
) -> None:
    """The write is what halts: a publish that cannot happen never makes the halt fail."""
    await state.broker.connection.close()
    with capture_logs() as logs:
        response = await client.post("/api/risk/halt", json={"reason": "NATS is down too"})
    assert response.status_code == 200, response.text
    assert response.json()["state"] == "HALTED"
    assert [entry["state"] for entry in logs if entry["event"] == "trading_state_change_unpublished"] == ["HALTED"]
    assert await _state_changes(nats_client) == []
