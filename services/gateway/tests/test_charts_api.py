"""/api/charts: artefacts from the Object Store, typed by their bytes (stored as the charts service would)."""

from __future__ import annotations

import json

import httpx

from tradelane.contracts import subjects
from tradelane.gateway.charts import PNG_SIGNATURE
from tradelane.runtime.bus import EventBus

PNG = PNG_SIGNATURE + b"\x00\x00\x00\rIHDR-not-a-real-image"


async def test_a_png_is_served_as_image_png(client: httpx.AsyncClient, bus: EventBus) -> None:
    ref = await bus.put_object(PNG, "image/png")
    response = await client.get(f"/api/charts/{ref.name}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.content == PNG


async def test_a_figure_is_served_as_json(client: httpx.AsyncClient, bus: EventBus) -> None:
    figure = json.dumps({"data": [], "layout": {"title": "AAPL"}}).encode()
    ref = await bus.put_object(figure, "application/json")
    response = await client.get(f"/api/charts/{ref.name.upper()}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json()["layout"]["title"] == "AAPL"


async def test_an_absent_chart_is_a_404(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/api/charts/{'0' * 64}")
    assert response.status_code == 404
    assert "0" * 64 in response.json()["detail"]


async def test_a_name_that_is_not_a_sha256_is_a_422(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/charts/not-a-digest")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path", "sha256"]


async def test_a_signals_chart_is_served_from_kept_charts_once_charts_no_longer_has_it(
    client: httpx.AsyncClient, bus: EventBus
) -> None:
    ref = await bus.put_object(PNG, "image/png")
    await bus.put_object(PNG, "image/png", bucket=subjects.KEPT_CHART_BUCKET)
    await (await bus.object_store(subjects.CHART_BUCKET)).delete(ref.name)
    response = await client.get(f"/api/charts/{ref.name}")
    assert response.status_code == 200
    assert response.content == PNG
