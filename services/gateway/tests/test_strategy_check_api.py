"""POST /api/strategies/check: create's validation, the risky values as warnings, and the coming runs."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx

from services.gateway.tests.conftest import ClientOf
from tests.support.http import refusal

CHECK = "/api/strategies/check"


def _definition(**risk: Any) -> dict[str, Any]:
    return {
        "name": "AAPL daily",
        "symbol": {"symbol": "AAPL"},
        "schedule": {"cron": "0 16 * * 1-5", "timezone": "America/New_York"},
        "risk": risk,
    }


async def test_a_prudent_strategy_has_no_warnings(client: httpx.AsyncClient) -> None:
    response = await client.post(CHECK, json=_definition(min_profit_margin="0.05"))
    assert response.status_code == 200, response.text
    assert response.json()["warnings"] == []


async def test_the_default_risk_limits_warn_only_of_their_one_percent_profit_margin(client: httpx.AsyncClient) -> None:
    """The default ``min_profit_margin`` (0.01) is below the 3 % the warning asks for."""
    warnings = (await client.post(CHECK, json=_definition())).json()["warnings"]
    assert [warning["field"] for warning in warnings] == ["risk.min_profit_margin"]


async def test_each_risky_value_is_a_warning_at_its_field(client: httpx.AsyncClient) -> None:
    risky = _definition(account_size="5000", risk_per_trade="0.08", min_risk_reward="0.8", min_profit_margin="0.02")
    response = await client.post(CHECK, json=risky)
    assert response.status_code == 200, response.text
    warnings = {warning["field"]: warning["message"] for warning in response.json()["warnings"]}
    fields = ["risk.account_size", "risk.risk_per_trade", "risk.min_risk_reward", "risk.min_profit_margin"]
    assert list(warnings) == fields
    assert "account size 5000 is under 10000" in warnings["risk.account_size"]
    assert "risk per trade 8 % is above 5 %" in warnings["risk.risk_per_trade"]
    assert "minimum reward/risk 0.8 is below 1" in warnings["risk.min_risk_reward"]
    assert "minimum profit margin 2 % is below 3 %" in warnings["risk.min_profit_margin"]


async def test_values_on_the_thresholds_are_not_warned_about(client: httpx.AsyncClient) -> None:
    edge = _definition(account_size="10000", risk_per_trade="0.05", min_risk_reward="1", min_profit_margin="0.03")
    assert (await client.post(CHECK, json=edge)).json()["warnings"] == []


async def test_the_next_five_runs_are_in_the_strategys_time_zone(client: httpx.AsyncClient) -> None:
    checked = (await client.post(CHECK, json=_definition())).json()
    assert checked["timezone"] == "America/New_York"
    runs = [datetime.fromisoformat(run) for run in checked["next_runs"]]
    assert len(runs) == 5
    assert runs == sorted(runs)
    assert all((run.hour, run.minute, run.weekday() < 5) == (16, 0, True) for run in runs)
    assert {run.utcoffset() for run in runs} <= {timedelta(hours=-4), timedelta(hours=-5)}


async def test_an_invalid_strategy_is_the_422_create_answers(client: httpx.AsyncClient) -> None:
    body = _definition(risk_per_trade="2")
    assert "body.risk.risk_per_trade" in refusal(await client.post(CHECK, json=body), 422)


async def test_an_invalid_cron_is_a_422_at_schedule_cron(client: httpx.AsyncClient) -> None:
    body = {**_definition(), "schedule": {"cron": "61 * * * *", "timezone": "UTC"}}
    message = refusal(await client.post(CHECK, json=body), 422)
    assert message.startswith("body.schedule.cron: cron '61 * * * *' is not valid")


async def test_checking_stores_nothing(client: httpx.AsyncClient) -> None:
    assert (await client.post(CHECK, json=_definition())).status_code == 200
    assert (await client.get("/api/strategies")).json() == []


async def test_a_read_token_may_not_check(client_of: ClientOf) -> None:
    reader = await client_of("read")
    assert "scope 'operate'" in refusal(await reader.post(CHECK, json=_definition()), 403)
