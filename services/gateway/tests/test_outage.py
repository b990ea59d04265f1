"""While NATS or PostgreSQL is unreachable the gateway answers 503 naming it, with Retry-After."""

from __future__ import annotations

import json

import asyncpg
import httpx
import nats.errors
import pytest
from fastapi import FastAPI, Request
from nats.aio.client import Client as NatsClient

from tradelane.contracts import subjects
from tradelane.gateway.outage import RETRY_AFTER_SECONDS, dependency_unavailable_handler
from tradelane.gateway.state import GatewayState


async def test_a_run_request_while_nats_is_down_is_refused_and_never_published(
    client: httpx.AsyncClient, state: GatewayState, nats_client: NatsClient
) -> None:
    created = await client.post(
        "/api/strategies",
        json={"name": "outage", "symbol": {"symbol": "AAPL"}, "schedule": {"cron": "0 0 1 1 *"}},
    )
    assert created.status_code == 201, created.text
    await state.broker.connection.close()

    answer = await client.post(f"/api/strategies/{created.json()['id']}/run")

    assert answer.status_code == 503, answer.text
    assert answer.headers["retry-after"] == str(RETRY_AFTER_SECONDS)
    assert answer.json()["detail"].startswith("NATS is unreachable")
    assert "retry shortly" in answer.json()["detail"]
    stream = await nats_client.jetstream().stream_info(subjects.PIPELINE_STREAM)
    assert stream.state.messages == 0


async def test_a_dependency_error_from_a_route_names_the_dependency() -> None:
    request = Request({"type": "http", "method": "GET", "headers": []})
    for error, dependency in [
        (ConnectionRefusedError(111, "Connection refused"), "PostgreSQL"),
        (asyncpg.CannotConnectNowError("the database system is in recovery mode"), "PostgreSQL"),
        (nats.errors.ConnectionReconnectingError(), "NATS"),
        (nats.errors.TimeoutError(), "NATS"),
    ]:
        answer = await dependency_unavailable_handler(request, error)
        body = json.loads(bytes(answer.body))
        assert answer.status_code == 503
        assert answer.headers["retry-after"] == str(RETRY_AFTER_SECONDS)
        assert body["unavailable"] == dependency
        assert body["detail"].startswith(f"{dependency} is unreachable ({type(error).__name__}")


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.TooManyConnectionsError("sorry, too many clients already"),
        asyncpg.exceptions.InternalClientError("cannot switch to state 15; another operation is in progress"),
        asyncpg.CrashShutdownError("terminating connection because of crash of another server process"),
    ],
    ids=lambda error: type(error).__name__,
)
async def test_a_route_meeting_a_postgres_outage_answers_503(
    app: FastAPI, client: httpx.AsyncClient, error: Exception
) -> None:
    """Every error the bus middleware retries as "PostgreSQL unreachable" is a 503 at the HTTP edge too."""

    async def failing_read() -> None:
        raise error

    app.add_api_route("/api/outage-probe", failing_read)

    answer = await client.get("/api/outage-probe")

    assert answer.status_code == 503, answer.text
    assert answer.headers["retry-after"] == str(RETRY_AFTER_SECONDS)
    assert answer.json()["unavailable"] == "PostgreSQL"
