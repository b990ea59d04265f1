"""/api/prompts: versioned templates, validated at save, previewed, and guarded while strategies use them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import httpx

from tests.support.http import refusal
from tradelane.contracts import subjects
from tradelane.contracts.envelope import Envelope
from tradelane.contracts.events import ChartRendered, ExecutionRequested, Trigger
from tradelane.contracts.market import Bar, MarketSnapshot, ObjectRef, ResolvedSymbol
from tradelane.contracts.strategy import AssetType, BarSize, StrategyDefinition, SymbolRef
from tradelane.gateway.state import GatewayState
from tradelane.store.lineage import StepRecord

TEXT = "Analyse {{ symbol }} at {{ latest_price | price }}."


async def _create(client: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    body = {"name": "daily", "type": "analysis", "text": TEXT, **overrides}
    response = await client.post("/api/prompts", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def _problems(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 422, response.text
    detail: list[dict[str, Any]] = response.json()["detail"]
    return detail


async def test_create_stores_version_one_with_the_variables_it_reads(client: httpx.AsyncClient) -> None:
    created = await _create(client, tags=["Swing", "swing", "daily"])
    assert (created["version"], created["latest_version"], created["language"]) == (1, 1, "en")
    assert created["variables"] == ["latest_price", "symbol"]
    assert created["tags"] == ["swing", "daily"]
    fetched = await client.get(f"/api/prompts/{created['id']}")
    assert fetched.json() == created


async def test_a_syntax_error_is_refused_with_its_line(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/prompts", json={"name": "x", "type": "analysis", "text": "ok\n{% if symbol %}\n{{ symbol }"}
    )
    [problem] = _problems(response)
    assert problem["type"] == "template_syntax"
    assert problem["loc"] == ["body", "text"]
    assert problem["msg"].startswith("line 3: syntax error")


async def test_an_undefined_variable_is_refused_with_its_name_and_line(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/prompts", json={"name": "x", "type": "analysis", "text": "{{ symbol }}\n{{ prise }}"}
    )
    [problem] = _problems(response)
    assert problem["type"] == "template_undefined_variable"
    assert problem["ctx"] == {"line": 2, "name": "prise"}
    assert "undefined variable 'prise'" in problem["msg"]


async def test_a_duplicate_name_is_a_conflict(client: httpx.AsyncClient) -> None:
    await _create(client)
    response = await client.post("/api/prompts", json={"name": "daily", "type": "system", "text": "hi"})
    assert response.status_code == 409
    assert "choose another name" in response.json()["detail"]


async def test_a_scope_naming_an_unknown_strategy_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/prompts", json={"name": "x", "type": "analysis", "text": TEXT, "strategy_id": str(uuid4())}
    )
    [problem] = _problems(response)
    assert problem["loc"] == ["body", "strategy_id"]


async def test_list_filters_by_type_language_active_and_tag(client: httpx.AsyncClient) -> None:
    await _create(client, name="a", tags=["swing"])
    await _create(client, name="b", language="zh", active=False)
    await _create(client, name="c", type="system", text="{{ answer_schema }}", tags=["swing", "core"])

    async def names(**params: Any) -> list[str]:
        response = await client.get("/api/prompts", params=params)
        assert response.status_code == 200, response.text
        return [item["name"] for item in response.json()]

    assert await names() == ["a", "b", "c"]
    assert await names(type="system") == ["c"]
    assert await names(language="zh") == ["b"]
    assert await names(active="false") == ["b"]
    assert await names(tag=["swing", "core"]) == ["c"]


async def test_changing_the_text_makes_a_new_version_and_the_old_one_stays_readable(client: httpx.AsyncClient) -> None:
    created = await _create(client)
    updated = await client.patch(f"/api/prompts/{created['id']}", json={"text": "Read {{ symbol }}."})
    assert updated.status_code == 200, updated.text
    assert (updated.json()["version"], updated.json()["text"]) == (2, "Read {{ symbol }}.")
    old = await client.get(f"/api/prompts/{created['id']}/versions/1")
    assert (old.json()["text"], old.json()["version"], old.json()["latest_version"]) == (TEXT, 1, 2)
    versions = await client.get(f"/api/prompts/{created['id']}/versions")
    assert [item["version"] for item in versions.json()] == [1, 2]


async def test_changing_other_fields_keeps_the_version(client: httpx.AsyncClient) -> None:
    created = await _create(client)
    updated = await client.patch(f"/api/prompts/{created['id']}", json={"notes": "for crypto", "is_default": True})
    assert (updated.json()["version"], updated.json()["notes"], updated.json()["is_default"]) == (1, "for crypto", True)


async def test_an_invalid_new_text_is_refused_and_nothing_changes(client: httpx.AsyncClient) -> None:
    created = await _create(client)
    response = await client.patch(f"/api/prompts/{created['id']}", json={"text": "{{ nope }}"})
    assert _problems(response)[0]["ctx"]["name"] == "nope"
    assert (await client.get(f"/api/prompts/{created['id']}")).json()["version"] == 1


async def test_the_type_cannot_change(client: httpx.AsyncClient) -> None:
    created = await _create(client)
    response = await client.patch(f"/api/prompts/{created['id']}", json={"type": "system"})
    [problem] = _problems(response)
    assert "create a new template" in problem["msg"]


async def test_an_unknown_template_or_version_is_404_saying_where_to_look(client: httpx.AsyncClient) -> None:
    created = await _create(client)
    assert "no prompt template" in refusal(await client.get(f"/api/prompts/{uuid4()}"), 404)
    missing = await client.get(f"/api/prompts/{created['id']}/versions/9")
    assert missing.status_code == 404
    assert "GET /api/prompts" in missing.json()["detail"]


async def test_delete_removes_a_template(client: httpx.AsyncClient) -> None:
    created = await _create(client)
    assert (await client.delete(f"/api/prompts/{created['id']}")).status_code == 204
    assert f"no prompt template {created['id']}" in refusal(await client.get(f"/api/prompts/{created['id']}"), 404)
    assert f"no prompt template {created['id']}" in refusal(await client.delete(f"/api/prompts/{created['id']}"), 404)


async def test_delete_is_refused_while_a_strategy_uses_the_template(client: httpx.AsyncClient) -> None:
    created = await _create(client)
    strategy = {"name": "aapl", "symbol": {"symbol": "AAPL"}, "analysis": {"prompt_template_id": created["id"]}}
    assert (await client.post("/api/strategies", json=strategy)).status_code == 201
    response = await client.delete(f"/api/prompts/{created['id']}")
    assert response.status_code == 409
    assert "'aapl'" in response.json()["detail"]
    assert "prompt_template_id" in response.json()["detail"]


async def test_validate_reports_problems_without_storing(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/prompts/validate", json={"text": "{{ symbol }}\n{{ bar_summary.chnage }}"})
    assert response.status_code == 200
    body = response.json()
    assert body["valid"] is False
    assert [(item["kind"], item["line"]) for item in body["problems"]] == [("render", 2)]
    assert (await client.get("/api/prompts")).json() == []


async def test_validate_accepts_a_good_template(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/prompts/validate", json={"text": TEXT})
    assert response.json() == {"valid": True, "problems": [], "variables": ["latest_price", "symbol"]}


async def test_render_previews_a_text_over_the_sample_with_the_context_given(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/prompts/render", json={"text": TEXT, "context": {"symbol": "MSFT"}})
    assert response.status_code == 200, response.text
    assert response.json()["text"] == "Analyse MSFT at 222.37."


async def test_render_previews_a_stored_version(client: httpx.AsyncClient) -> None:
    created = await _create(client)
    await client.patch(f"/api/prompts/{created['id']}", json={"text": "v2 {{ symbol }}"})
    response = await client.post("/api/prompts/render", json={"template_id": created["id"], "version": 1})
    assert response.json() == {"text": "Analyse AAPL at 222.37.", "template_id": created["id"], "version": 1}


async def test_render_without_the_sample_needs_every_variable(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/prompts/render",
        json={"text": "{{ symbol }}\n{{ latest_price }}", "use_sample": False, "context": {"symbol": "X"}},
    )
    [problem] = _problems(response)
    assert problem["msg"].startswith("line 2:")
    assert "latest_price" in problem["msg"]


async def _record(state: GatewayState, step: str, subject: str, event: Envelope) -> None:
    await state.lineage.record(
        StepRecord(
            execution_id=event.execution_id,
            strategy_id=event.strategy_id,
            step=step,
            message_id=event.message_id,
            causation_id=event.causation_id,
            subject=subject,
            stream_sequence=None,
            status="succeeded",
            payload=event.model_dump(mode="json"),
            occurred_at=event.occurred_at,
        )
    )


async def _requested(state: GatewayState) -> ExecutionRequested:
    request = ExecutionRequested(
        execution_id=uuid4(),
        strategy_id=uuid4(),
        strategy=StrategyDefinition(name="nvda", symbol=SymbolRef(symbol="NVDA")),
        trigger=Trigger.MANUAL,
        as_of=datetime(2026, 11, 20, tzinfo=UTC),
    )
    await _record(state, "requested", subjects.EXECUTION_REQUESTED, request)
    return request


async def _charted(state: GatewayState, request: ExecutionRequested, close: float) -> None:
    bar = Bar(time=request.as_of, open=close, high=close, low=close, close=close, volume=1)
    snapshot = MarketSnapshot(
        symbol=ResolvedSymbol(conid=7, symbol="NVDA", exchange="NASDAQ", currency="USD", asset_type=AssetType.STOCK),
        bar_size=BarSize.DAY_1,
        last_bar_time=request.as_of,
        last_close=close,
        recent_bars=(bar,),
        latest={},
        previous={},
    )
    figure = ObjectRef(bucket="charts", name="0" * 64, size=1, content_type="application/json")
    chart = request.follow(ChartRendered, strategy=request.strategy, snapshot=snapshot, figure=figure)
    await _record(state, "chart", subjects.CHART_RENDERED, chart)


async def test_render_previews_with_the_variables_a_recorded_executions_analysis_saw(
    client: httpx.AsyncClient, state: GatewayState
) -> None:
    request = await _requested(state)
    await _charted(state, request, close=131.5)
    response = await client.post(
        "/api/prompts/render",
        json={"text": TEXT + " {{ chart_attached }}", "execution_id": str(request.execution_id)},
    )
    assert response.status_code == 200, response.text
    assert response.json()["text"] == "Analyse NVDA at 131.50. False"


async def test_render_with_an_execution_that_never_reached_the_analysis_says_so(
    client: httpx.AsyncClient, state: GatewayState
) -> None:
    request = await _requested(state)
    response = await client.post("/api/prompts/render", json={"text": TEXT, "execution_id": str(request.execution_id)})
    [problem] = _problems(response)
    assert problem["loc"] == ["body", "execution_id"]
    assert "never reached the analysis" in problem["msg"]


async def test_render_with_an_unknown_execution_is_not_found(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/prompts/render", json={"text": TEXT, "execution_id": str(uuid4())})
    assert response.status_code == 404, response.text
    assert "no execution with id" in response.json()["detail"]


async def test_render_needs_a_text_or_a_template(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/prompts/render", json={"context": {}})
    assert "either text or template_id" in _problems(response)[0]["msg"]


async def test_every_variable_is_documented(client: httpx.AsyncClient) -> None:
    variables = {item["name"]: item for item in (await client.get("/api/prompts/variables")).json()}
    assert {"symbol", "bar_summary", "latest_price", "indicators", "timeframe", "strategy", "now"} <= set(variables)
    assert all(item["description"] and item["example"] for item in variables.values())


async def test_the_built_in_templates_are_listed(client: httpx.AsyncClient) -> None:
    defaults = (await client.get("/api/prompts/defaults")).json()
    assert {(item["type"], item["language"]) for item in defaults} == {
        (kind, language) for kind in ("analysis", "consolidation", "system") for language in ("en", "zh")
    }
