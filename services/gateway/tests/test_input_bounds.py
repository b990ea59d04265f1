"""What the fuzzer found, pinned: input PostgreSQL cannot hold is a 422 naming the field, never a 500.

A prompt version beyond PostgreSQL's integer range, NUL characters in a prompt's name and in
tag filters, dates too far out to compute a window from, offsets beyond a bigint: each reached
PostgreSQL (or NATS) and came back as a server error before it was checked at the edge.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any
from uuid import uuid4

import httpx
import pytest

from tests.support.http import refusal
from tradelane.contracts.fields import PG_INT_MAX

STRATEGY = {"name": "AAPL daily", "symbol": {"symbol": "AAPL"}}


def _field_of(response: httpx.Response) -> list[Any]:
    assert response.status_code == 422, response.text
    loc: list[Any] = response.json()["detail"][0]["loc"]
    return loc


async def test_a_prompt_version_beyond_postgresqls_integer_range_is_422(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/api/prompts/{uuid4()}/versions/{PG_INT_MAX + 1}")
    assert _field_of(response) == ["path", "version"]
    render = await client.post("/api/prompts/render", json={"template_id": str(uuid4()), "version": 2**40})
    assert _field_of(render) == ["body", "version"]


async def test_the_largest_prompt_version_postgresql_holds_is_a_plain_404(client: httpx.AsyncClient) -> None:
    assert f"no version {PG_INT_MAX} of prompt template" in refusal(
        await client.get(f"/api/prompts/{uuid4()}/versions/{PG_INT_MAX}"), 404
    )


@pytest.mark.parametrize("field", ["name", "text", "notes"])
async def test_a_nul_character_in_a_prompt_is_422_naming_the_field(client: httpx.AsyncClient, field: str) -> None:
    body = {"name": "daily", "type": "analysis", "text": "Analyse {{ symbol }}.", field: "a\x00b"}
    response = await client.post("/api/prompts", json=body)
    assert _field_of(response) == ["body", field]
    assert "NUL" in response.json()["detail"][0]["msg"]


async def test_a_nul_character_in_a_tag_is_422_naming_the_tag(client: httpx.AsyncClient) -> None:
    body = {"name": "daily", "type": "analysis", "text": "Analyse {{ symbol }}.", "tags": ["ok", "b\x00d"]}
    assert _field_of(await client.post("/api/prompts", json=body)) == ["body", "tags", 1]


async def test_a_nul_character_in_a_tag_filter_is_422_naming_the_filter(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/prompts", params={"tag": ["swing", "\x00"]})
    assert _field_of(response) == ["query", "tag", 1]


async def test_too_many_tag_filters_are_422(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/prompts", params={"tag": [f"t{n}" for n in range(21)]})
    assert _field_of(response) == ["query", "tag"]


async def test_a_nul_character_in_a_strategy_is_422_naming_the_field(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/strategies", json={**STRATEGY, "description": "trend\x00"})
    assert _field_of(response) == ["body", "description"]


async def test_a_model_filter_with_a_nul_character_is_422(client: httpx.AsyncClient) -> None:
    assert _field_of(await client.get("/api/llm/usage", params={"model": "gpt\x00"})) == ["query", "model"]


async def test_a_usage_window_starting_at_year_one_is_422(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/llm/usage", params={"until": "0001-01-02T00:00:00Z"})
    assert _field_of(response) == ["query", "until"]


async def test_an_offset_beyond_postgresqls_range_is_422(client: httpx.AsyncClient) -> None:
    assert _field_of(await client.get("/api/orders", params={"offset": 2**70})) == ["query", "offset"]
    assert _field_of(await client.get("/api/executions", params={"offset": 2**70})) == ["query", "offset"]


async def test_a_dead_letter_id_beyond_a_stream_sequence_is_422(client: httpx.AsyncClient) -> None:
    assert _field_of(await client.get(f"/api/dlq/{2**70}")) == ["path", "dead_letter_id"]


async def test_a_replay_whose_overrides_cannot_apply_is_422_naming_from_step(client: httpx.AsyncClient) -> None:
    response = await client.post(f"/api/executions/{uuid4()}/replay", json={"from_step": "signal", "prompt_version": 2})
    assert _field_of(response) == ["body", "from_step"]
    assert "take effect only in the analysis step" in response.json()["detail"][0]["msg"]


async def test_risk_limits_out_of_bounds_are_422_naming_the_limit(client: httpx.AsyncClient) -> None:
    for limits, field in (
        ({"max_position_notional": "NaN"}, "max_position_notional"),
        ({"max_gross_exposure": "1E+13"}, "max_gross_exposure"),
        ({"max_order_quantity": "Infinity"}, "max_order_quantity"),
        ({"max_open_positions": 10**6}, "max_open_positions"),
    ):
        assert _field_of(await client.put("/api/risk/limits", json=limits)) == ["body", field]


async def test_decimals_are_written_in_plain_notation(client: httpx.AsyncClient) -> None:
    response = await client.put(
        "/api/risk/limits", json={"max_gross_exposure": "1.0E+5", "max_position_notional": "3E+4"}
    )
    assert response.status_code == 200, response.text
    limits = response.json()["limits"]
    assert (limits["max_gross_exposure"], limits["max_position_notional"]) == ("100000", "30000")
    strategy = (await client.post("/api/strategies", json={**STRATEGY, "risk": {"account_size": "5E+4"}})).json()
    assert strategy["definition"]["risk"]["account_size"] == "50000"
    assert Decimal(strategy["definition"]["risk"]["min_risk_reward"]) == Decimal("1.5")


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity"])
async def test_a_number_that_is_not_finite_is_422_naming_the_field(client: httpx.AsyncClient, number: str) -> None:
    """Python's JSON reader takes NaN and Infinity literals; the contracts refuse them, floats and Decimals alike."""
    strategy = json.dumps({**STRATEGY, "indicators": [{"kind": "bbands", "std_dev": 0}]}).replace("0}", f"{number}}}")
    response = await client.post("/api/strategies", content=strategy, headers={"Content-Type": "application/json"})
    assert _field_of(response) == ["body", "indicators", 0, "bbands", "std_dev"]
    assert response.json()["detail"][0]["msg"] == "Input should be a finite number"

    limits = json.dumps({"max_position_notional": 0}).replace("0}", f"{number}}}")
    response = await client.put("/api/risk/limits", content=limits, headers={"Content-Type": "application/json"})
    assert _field_of(response) == ["body", "max_position_notional"]


async def test_a_signalling_nan_in_a_money_field_is_422_naming_it(client: httpx.AsyncClient) -> None:
    response = await client.put("/api/risk/limits", json={"max_gross_exposure": "sNaN"})
    assert _field_of(response) == ["body", "max_gross_exposure"]
