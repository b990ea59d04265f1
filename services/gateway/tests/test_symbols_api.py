"""/api/symbols and /api/ib/status, answered by a real market-data service (simulated provider) over NATS."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.support.http import refusal
from tradelane.market_data.app import build
from tradelane.market_data.config import MarketDataSettings
from tradelane.market_data.simulated import UNIVERSE
from tradelane.runtime.settings import Settings

AAPL = next(instrument for instrument in UNIVERSE if instrument.symbol == "AAPL")
SPY = next(instrument for instrument in UNIVERSE if instrument.symbol == "SPY")


@pytest.fixture
async def market_data(settings: Settings) -> AsyncIterator[None]:
    service = build(MarketDataSettings.model_validate(settings.model_dump()))
    await service.start()  # ready: its subscriptions have reached the server
    yield
    await service.close()


@pytest.mark.usefixtures("market_data")
async def test_search_returns_matches_best_first(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/symbols/search", params={"q": "s&p 500", "limit": 2})
    assert response.status_code == 200
    body = response.json()
    assert [hit["symbol"] for hit in body["results"]] == ["SPY", "ES"]
    assert (body["provider"], body["source"], body["stale"]) == ("simulated", "provider", False)


@pytest.mark.usefixtures("market_data")
async def test_a_repeated_search_is_answered_from_the_cache(client: httpx.AsyncClient) -> None:
    await client.get("/api/symbols/search", params={"q": "msft"})
    response = await client.get("/api/symbols/search", params={"q": "MSFT"})
    assert response.json()["source"] == "cache"


@pytest.mark.parametrize(
    ("params", "field"),
    [({"q": "   "}, "q"), ({"q": "a", "limit": 0}, "limit"), ({"q": "a", "limit": 51}, "limit"), ({}, "q")],
)
async def test_bad_search_parameters_are_422_naming_the_parameter(
    client: httpx.AsyncClient, params: dict[str, str | int], field: str
) -> None:
    response = await client.get("/api/symbols/search", params=params)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", field]


@pytest.mark.usefixtures("market_data")
async def test_details_by_conid(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/api/symbols/{AAPL.conid}")
    assert response.status_code == 200
    details = response.json()["details"]
    assert (details["symbol"], details["exchange"], details["min_tick"]) == ("AAPL", "NASDAQ", 0.01)


@pytest.mark.usefixtures("market_data")
async def test_an_unknown_conid_is_404_saying_what_is_known(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/symbols/12345")
    assert response.status_code == 404
    assert "no instrument with conid 12345" in response.json()["detail"]


async def test_a_conid_that_is_not_positive_is_422(client: httpx.AsyncClient) -> None:
    assert "path.conid: Input should be greater than 0" in refusal(await client.get("/api/symbols/0"), 422)


@pytest.mark.usefixtures("market_data")
async def test_batch_cache_reports_each_conid_and_stats_count_them(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/symbols/batch-cache", json={"conids": [AAPL.conid, SPY.conid, 12345]})
    assert response.status_code == 200
    body = response.json()
    assert [item["status"] for item in body["items"]] == ["fetched", "fetched", "not_found"]
    again = (await client.post("/api/symbols/batch-cache", json={"conids": [AAPL.conid]})).json()
    assert again["items"][0]["status"] == "fresh"
    stats = (await client.get("/api/symbols/cache/stats")).json()
    assert (stats["total"], stats["stale"], stats["with_details"]) == (2, 0, 2)
    assert stats["by_asset_type"] == {"ETF": 1, "STK": 1}
    assert stats["by_exchange"] == {"ARCA": 1, "NASDAQ": 1}


@pytest.mark.parametrize("body", [{"conids": []}, {"conids": [0]}, {"conids": list(range(1, 102))}, {}])
async def test_a_bad_batch_is_422(client: httpx.AsyncClient, body: dict[str, object]) -> None:
    assert "body.conids" in refusal(await client.post("/api/symbols/batch-cache", json=body), 422)


@pytest.mark.usefixtures("market_data")
async def test_refresh_without_a_body_uses_the_default_cap(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/symbols/refresh")
    assert response.status_code == 200
    assert response.json()["refreshed"] == response.json()["remaining_stale"] == 0


async def test_a_refresh_cap_out_of_range_is_422(client: httpx.AsyncClient) -> None:
    assert "body.limit: Input should be greater than or equal to 1" in refusal(
        await client.post("/api/symbols/refresh", json={"limit": 0}), 422
    )


@pytest.mark.usefixtures("market_data")
async def test_ib_status_says_the_simulated_provider_is_in_use(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/ib/status")
    assert response.status_code == 200
    body = response.json()
    assert (body["provider"], body["connected"]) == ("simulated", False)


@pytest.mark.parametrize("path", ["/api/symbols/search?q=aapl", "/api/symbols/1", "/api/ib/status"])
async def test_without_market_data_the_answer_is_503_saying_so(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 503
    assert "market-data" in response.json()["detail"]
