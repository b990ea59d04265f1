"""GET /api/executions/{id}/steps/{step}/input and /output: a step's message as recorded, its references resolved.

Bars and indicator series are stored through a payload store of the test's own (``payloads``, as
the market-data and indicators services store them; the gateway has none of it cached), the
messages referring to them recorded in the lineage as those services publish them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import httpx

from tradelane.contracts import subjects
from tradelane.contracts.market import Bar, ObjectRef
from tradelane.contracts.payloads import BarsWindow
from tradelane.contracts.strategy import BarSize
from tradelane.gateway.state import GatewayState
from tradelane.runtime.payloads import PayloadStore, bars_window
from tradelane.store.lineage import StepRecord

from .test_executions_api import NOW, _step

CONID = 265598
SERIES = {"rsi_14": [None, 48.5, 61.25], "sma_2": [None, 101.5, 102.5]}
NEVER_STORED = "0" * 64


def bars(count: int, bar_size: BarSize = BarSize.DAY_1) -> list[Bar]:
    start = datetime(2026, 11, 2, tzinfo=UTC)
    return [
        Bar(
            time=start + timedelta(seconds=bar_size.seconds * i),
            open=100 + i,
            high=102 + i,
            low=99 + i,
            close=101 + i,
            volume=1000 * (i + 1),
        )
        for i in range(count)
    ]


def as_json(stored: list[Bar]) -> list[dict[str, Any]]:
    return [bar.model_dump(mode="json") for bar in stored]


def reference(value: BarsWindow | ObjectRef) -> dict[str, Any]:
    """A reference as a recorded message holds it."""
    return value.model_dump(mode="json")


@dataclass(frozen=True)
class Recorded:
    """An execution recorded up to its indicators step, with what its references refer to."""

    execution_id: UUID
    market_data: StepRecord
    indicators: StepRecord
    daily: BarsWindow
    hourly: BarsWindow
    series: ObjectRef


async def record(state: GatewayState, execution_id: UUID, *steps: tuple[str, str, dict[str, Any]]) -> list[StepRecord]:
    """Record ``steps`` (name, subject, message) in order, each caused by the one before."""
    recorded: list[StepRecord] = []
    for seconds, (name, subject, payload) in enumerate(steps):
        row = _step(
            execution_id,
            name,
            subject=subject,
            payload=payload,
            causation_id=recorded[-1].message_id if recorded else None,
            occurred_at=NOW + timedelta(seconds=seconds),
        )
        await state.lineage.record(row)
        recorded.append(row)
    return recorded


async def recorded_with_references(state: GatewayState, store: PayloadStore) -> Recorded:
    daily = await store.put_bars(CONID, BarSize.DAY_1, bars(3))
    hourly = await store.put_bars(CONID, BarSize.HOUR_1, bars(2, BarSize.HOUR_1))
    series = await store.put_series(SERIES)
    execution_id = uuid4()
    _, market_data, indicators = await record(
        state,
        execution_id,
        ("requested", subjects.EXECUTION_REQUESTED, {"trigger": "manual"}),
        ("market_data", subjects.MARKET_DATA_FETCHED, {"bars": reference(daily), "provider": "simulated"}),
        (
            "indicators",
            subjects.INDICATORS_COMPUTED,
            {
                "bars": reference(daily),
                "series": reference(series),
                "timeframes": [{"bars": reference(hourly), "series": reference(series)}],
            },
        ),
    )
    return Recorded(execution_id, market_data, indicators, daily, hourly, series)


async def test_an_output_comes_as_recorded_with_the_bars_and_series_it_refers_to(
    client: httpx.AsyncClient, state: GatewayState, payloads: PayloadStore
) -> None:
    recorded = await recorded_with_references(state, payloads)
    response = await client.get(f"/api/executions/{recorded.execution_id}/steps/indicators/output")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["execution_id"] == str(recorded.execution_id)
    assert body["step"] == "indicators"
    assert body["message_id"] == str(recorded.indicators.message_id)
    assert body["subject"] == subjects.INDICATORS_COMPUTED
    assert body["message"] == recorded.indicators.payload
    assert body["payloads"] == {
        recorded.daily.sha256: as_json(bars(3)),
        recorded.hourly.sha256: as_json(bars(2, BarSize.HOUR_1)),
        recorded.series.name: SERIES,
    }


async def test_an_input_is_the_message_the_step_consumed_with_its_references_resolved(
    client: httpx.AsyncClient, state: GatewayState, payloads: PayloadStore
) -> None:
    recorded = await recorded_with_references(state, payloads)
    response = await client.get(f"/api/executions/{recorded.execution_id}/steps/indicators/input")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["message_id"] == str(recorded.indicators.message_id)
    assert body["message"] == recorded.market_data.payload
    assert body["payloads"] == {recorded.daily.sha256: as_json(bars(3))}


async def test_a_message_recorded_before_references_comes_as_it_is_with_no_payloads(
    client: httpx.AsyncClient, state: GatewayState
) -> None:
    inline = {"bars": as_json(bars(2)), "indicators": SERIES}
    execution_id = uuid4()
    await record(state, execution_id, ("market_data", subjects.MARKET_DATA_FETCHED, inline))
    body = (await client.get(f"/api/executions/{execution_id}/steps/market_data/output")).json()
    assert body["message"] == inline
    assert body["payloads"] == {}


async def test_a_reference_whose_content_is_gone_is_named_missing_not_an_error(
    client: httpx.AsyncClient, state: GatewayState
) -> None:
    gone = bars_window(CONID, BarSize.DAY_1, bars(3))
    gone_series = ObjectRef(bucket=subjects.PAYLOAD_BUCKET, name=NEVER_STORED, size=10, content_type="application/json")
    chart = ObjectRef(bucket=subjects.CHART_BUCKET, name="2" * 64, size=10, content_type="image/png")
    message = {"bars": reference(gone), "series": reference(gone_series), "png": reference(chart)}
    execution_id = uuid4()
    await record(state, execution_id, ("indicators", subjects.INDICATORS_COMPUTED, message))
    response = await client.get(f"/api/executions/{execution_id}/steps/indicators/output")
    assert response.status_code == 200, response.text
    payloads = response.json()["payloads"]
    assert set(payloads) == {gone.sha256, NEVER_STORED}  # a chart is no payload: GET /api/charts/{sha256} has it
    for missing in payloads.values():
        assert "no longer in the payload store" in missing["missing"]


async def test_message_id_picks_one_of_several_steps_of_a_name_and_the_first_is_the_default(
    client: httpx.AsyncClient, state: GatewayState
) -> None:
    execution_id = uuid4()
    first, retried = await record(
        state,
        execution_id,
        ("market_data", subjects.MARKET_DATA_FETCHED, {"attempt": 1}),
        ("market_data", subjects.MARKET_DATA_FETCHED, {"attempt": 2}),
    )
    url = f"/api/executions/{execution_id}/steps/market_data/output"
    default = (await client.get(url)).json()
    assert (default["message_id"], default["message"]) == (str(first.message_id), {"attempt": 1})
    picked = (await client.get(url, params={"message_id": str(retried.message_id)})).json()
    assert (picked["message_id"], picked["message"]) == (str(retried.message_id), {"attempt": 2})
    elsewhere = await client.get(url, params={"message_id": str(uuid4())})
    assert elsewhere.status_code == 404
    assert "has no 'market_data' step with message_id" in elsewhere.json()["detail"]


async def test_unknown_executions_and_steps_and_the_first_steps_input_are_404s(
    client: httpx.AsyncClient, state: GatewayState
) -> None:
    execution_id = uuid4()
    await record(
        state,
        execution_id,
        ("requested", subjects.EXECUTION_REQUESTED, {"trigger": "manual"}),
        ("market_data", subjects.MARKET_DATA_FETCHED, {"provider": "simulated"}),
    )
    unknown_execution = await client.get(f"/api/executions/{uuid4()}/steps/market_data/output")
    unknown_step = await client.get(f"/api/executions/{execution_id}/steps/teleport/input")
    first_input = await client.get(f"/api/executions/{execution_id}/steps/requested/input")
    for response in (unknown_execution, unknown_step, first_input):
        assert response.status_code == 404
        assert set(response.json()) == {"detail"}
    assert "GET /api/executions" in unknown_execution.json()["detail"]
    assert "its steps are: requested, market_data" in unknown_step.json()["detail"]
    assert "has no recorded input" in first_input.json()["detail"]


async def test_the_openapi_says_which_step_is_taken_without_a_message_id(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    for which in ("input", "output"):
        operation = paths[f"/api/executions/{{execution_id}}/steps/{{step}}/{which}"]["get"]
        parameters = {parameter["name"]: parameter for parameter in operation["parameters"]}
        assert "first by occurrence" in parameters["message_id"]["description"]
        assert "first by occurrence" in operation["description"]
        assert "404" in operation["responses"]
