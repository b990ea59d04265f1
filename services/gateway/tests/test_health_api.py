"""/healthz and /readyz."""

from __future__ import annotations

from typing import Any

import httpx
import nats

from tradelane.gateway.readiness import nats_problem
from tradelane.gateway.state import GatewayState


async def test_healthz_is_ok(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_readyz_is_200_when_postgres_and_nats_answer(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "postgres": "ok", "nats": "ok"}


async def test_readyz_is_503_naming_postgres_when_it_cannot_answer(
    client: httpx.AsyncClient, state: GatewayState
) -> None:
    await state.pool.close()
    response = await client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["postgres"] != "ok"
    assert body["nats"] == "ok"


async def test_a_closed_nats_connection_is_a_readiness_problem(nats_url: str, nats_options: dict[str, Any]) -> None:
    client = await nats.connect(nats_url, **nats_options)
    assert nats_problem(client) is None
    await client.close()
    assert nats_problem(client) == "not connected to NATS"


async def test_metrics_are_served_in_the_prometheus_format(client: httpx.AsyncClient) -> None:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "process_cpu_seconds_total" in response.text or "python_gc_objects_collected_total" in response.text
