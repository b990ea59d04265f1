"""The OpenAPI document describes every endpoint well enough to use it without the code."""

from __future__ import annotations

from typing import Any

import httpx


async def _schema(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    schema: dict[str, Any] = response.json()
    return schema


async def test_every_operation_has_a_summary(client: httpx.AsyncClient) -> None:
    schema = await _schema(client)
    operations = [(path, verb, op) for path, item in schema["paths"].items() for verb, op in item.items()]
    assert len(operations) >= 11
    assert [(path, verb) for path, verb, op in operations if not op.get("summary")] == []


async def test_strategy_bodies_come_with_examples(client: httpx.AsyncClient) -> None:
    schema = await _schema(client)
    for verb, path in (("post", "/api/strategies"), ("put", "/api/strategies/{strategy_id}")):
        body = schema["paths"][path][verb]["requestBody"]["content"]["application/json"]
        assert set(body["examples"]) == {"minimal", "after_the_close"}


async def test_error_answers_are_documented(client: httpx.AsyncClient) -> None:
    paths = (await _schema(client))["paths"]
    assert "404" in paths["/api/strategies/{strategy_id}"]["get"]["responses"]
    assert "409" in paths["/api/strategies"]["post"]["responses"]
    assert "503" in paths["/readyz"]["get"]["responses"]
    assert "image/png" in paths["/api/charts/{sha256}"]["get"]["responses"]["200"]["content"]
