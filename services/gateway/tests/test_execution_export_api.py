"""GET /api/executions/{id}/export: an execution's lineage as a JSON document or as CSV, to download."""

from __future__ import annotations

import csv
import io
import json
from uuid import uuid4

import httpx

from tradelane.contracts import subjects
from tradelane.gateway.state import GatewayState

from .test_executions_api import _step


async def _recorded(state: GatewayState) -> tuple[str, str]:
    execution_id, strategy_id = uuid4(), uuid4()
    requested = _step(
        execution_id,
        "requested",
        strategy_id=strategy_id,
        subject=subjects.EXECUTION_REQUESTED,
        payload={"trigger": "manual"},
    )
    await state.lineage.record(requested)
    await state.lineage.record(
        _step(
            execution_id,
            "market_data",
            strategy_id=strategy_id,
            causation_id=requested.message_id,
            subject=subjects.MARKET_DATA_FETCHED,
            payload={"bars": 3, "note": 'a "quoted", comma'},
            duration_ms=12.5,
        )
    )
    return str(execution_id), str(strategy_id)


async def test_csv_has_one_row_per_step_with_its_messages_as_json(
    client: httpx.AsyncClient, state: GatewayState
) -> None:
    execution_id, strategy_id = await _recorded(state)
    response = await client.get(f"/api/executions/{execution_id}/export", params={"format": "csv"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"] == f'attachment; filename="execution-{execution_id}.csv"'
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [row["step"] for row in rows] == ["requested", "market_data"]
    assert {row["execution_id"] for row in rows} == {execution_id}
    assert {row["strategy_id"] for row in rows} == {strategy_id}
    market_data = rows[1]
    assert market_data["duration_ms"] == "12.5"
    assert market_data["status"] == "succeeded"
    assert json.loads(market_data["output"]) == {"bars": 3, "note": 'a "quoted", comma'}
    assert json.loads(market_data["input"]) == {"trigger": "manual"}
    assert rows[0]["input"] == ""


async def test_json_is_the_execution_with_every_steps_messages(client: httpx.AsyncClient, state: GatewayState) -> None:
    execution_id, _ = await _recorded(state)
    response = await client.get(f"/api/executions/{execution_id}/export")
    assert response.status_code == 200
    assert response.headers["content-disposition"] == f'attachment; filename="execution-{execution_id}.json"'
    exported = response.json()
    assert exported == (await client.get(f"/api/executions/{execution_id}", params={"payloads": "true"})).json()
    assert exported["steps"][1]["output"]["bars"] == 3


async def test_an_unknown_execution_or_format_is_refused(client: httpx.AsyncClient) -> None:
    missing = await client.get(f"/api/executions/{uuid4()}/export")
    assert missing.status_code == 404
    unknown = await client.get(f"/api/executions/{uuid4()}/export", params={"format": "xml"})
    assert unknown.status_code == 422
