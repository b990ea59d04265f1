"""/api/prompts under the render limits: hostile templates are a 422 naming the limit; the gateway keeps serving."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

NESTED_LOOPS = "{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}"

pytestmark = pytest.mark.timeout(60)


def _refused(response: httpx.Response) -> dict[str, Any]:
    """The one template_limit error of a 422."""
    assert response.status_code == 422, response.text
    [problem] = response.json()["detail"]
    assert (problem["type"], problem["loc"]) == ("template_limit", ["body", "text"])
    refused: dict[str, Any] = problem
    return refused


async def test_validate_refuses_a_huge_power_naming_the_limit(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/prompts/validate", json={"text": "{{ symbol }}\n{{ 10 ** (10 ** 10) }}"})
    problem = _refused(response)
    assert problem["msg"].startswith("line 2: 10 ** 10000000000 is too large a number")
    assert problem["ctx"] == {"line": 2, "name": None}


async def test_validate_refuses_a_huge_string_repetition(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/prompts/validate", json={"text": "{{ 'x' * 10 ** 10 }}"})
    assert "at most 262144" in _refused(response)["msg"]


async def test_render_refuses_runaway_loops_at_the_time_limit(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/prompts/render", json={"text": NESTED_LOOPS})
    assert "took longer than 2 s (the render time limit)" in _refused(response)["msg"]


async def test_render_refuses_output_beyond_the_limit(client: httpx.AsyncClient) -> None:
    text = "{% for bar in range(5000) %}{{ bars | string }}{% endfor %}"
    response = await client.post("/api/prompts/render", json={"text": text})
    assert "the output limit" in _refused(response)["msg"]


async def test_render_refuses_recursion_through_a_macro(client: httpx.AsyncClient) -> None:
    text = "{% macro again() %}{{ again() }}{% endmacro %}{{ again() }}"
    response = await client.post("/api/prompts/render", json={"text": text})
    assert "recurses too deeply" in _refused(response)["msg"]


async def test_render_refuses_an_allocation_past_the_memory_limit(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/prompts/render", json={"text": "{{ 'x' | center(10 ** 9) }}"})
    assert "memory limit" in _refused(response)["msg"]


async def test_a_hostile_template_is_not_stored(client: httpx.AsyncClient) -> None:
    body = {"name": "hostile", "type": "analysis", "text": "{{ [1] * 10 ** 10 }}"}
    _refused(await client.post("/api/prompts", json=body))
    assert (await client.get("/api/prompts")).json() == []


async def test_a_too_deeply_nested_template_is_a_syntax_error_not_a_server_error(client: httpx.AsyncClient) -> None:
    text = "{{ " + "(" * 20_000 + "1" + ")" * 20_000 + " }}"
    response = await client.post("/api/prompts/validate", json={"text": text})
    assert response.status_code == 200, response.text
    assert [item["kind"] for item in response.json()["problems"]] == ["syntax"]
    rendered = await client.post("/api/prompts/render", json={"text": text})
    assert "too deeply" in _refused(rendered)["msg"]


async def test_the_gateway_answers_other_requests_while_a_slow_render_is_refused(client: httpx.AsyncClient) -> None:
    slow = asyncio.create_task(client.post("/api/prompts/render", json={"text": NESTED_LOOPS}))
    answered = 0
    while not slow.done():
        response = await client.get("/api/prompts/variables")
        assert response.status_code == 200
        answered += 1
        await asyncio.sleep(0.05)
    assert answered >= 5, "the event loop was held while the template rendered"
    assert "took longer than" in _refused(await slow)["msg"]


async def test_render_refuses_output_that_is_not_valid_unicode(client: httpx.AsyncClient) -> None:
    """A lone surrogate could not be sent back as JSON: it is a 422, not a server error."""
    response = await client.post("/api/prompts/render", json={"text": "{{ '\\ud800' }}"})
    assert response.status_code == 422, response.text
    [problem] = response.json()["detail"]
    assert problem["type"] == "template_render"
    assert "lone surrogate" in problem["msg"]


async def test_an_update_to_a_hostile_text_is_refused_and_nothing_changes(client: httpx.AsyncClient) -> None:
    created = await client.post("/api/prompts", json={"name": "daily", "type": "analysis", "text": "{{ symbol }}"})
    assert created.status_code == 201, created.text
    template_id = created.json()["id"]
    response = await client.patch(f"/api/prompts/{template_id}", json={"text": "{{ '%0999999999d' % 1 }}"})
    assert "width or precision of 999999999 is too large" in _refused(response)["msg"]
    assert (await client.get(f"/api/prompts/{template_id}")).json()["version"] == 1
