"""/api/backtests: start (or estimate), list, follow, stop and resume backtests, and read their report.

The backtester is a service of its own: a fake answers its request subjects on the test's real
NATS (:class:`tests.support.backtests.FakeBacktester`), and its rows are written as it writes
them, through ``BacktestRepository``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest

from services.gateway.tests.conftest import ClientOf
from tests.support.backtests import REPORT, FakeBacktester, complete, replying, store_run
from tests.support.http import refusal
from tradelane.contracts.backtest import BacktestReply, BacktestRequest
from tradelane.contracts.strategy import StrategyDefinition, SymbolRef
from tradelane.gateway.routes.backtests import REPORT_POLICY
from tradelane.gateway.state import GatewayState
from tradelane.store.backtests import BacktestRepository

START = datetime(2026, 10, 1, tzinfo=UTC)
END = datetime(2026, 11, 1, tzinfo=UTC)


def body(strategy_id: UUID, **changes: Any) -> dict[str, Any]:
    return {"strategy_id": str(strategy_id), "start": START.isoformat(), "end": END.isoformat(), **changes}


async def stored(repository: BacktestRepository, strategy_id: UUID, **changes: Any) -> UUID:
    """A backtest as the backtester stores one when it starts it (three decisions of base and offline)."""
    return await store_run(repository, BacktestRequest(strategy_id=strategy_id, start=START, end=END, **changes))


async def test_a_started_backtest_is_a_202_with_its_id_estimate_and_links(
    client: httpx.AsyncClient, backtester: FakeBacktester, strategy_id: UUID
) -> None:
    response = await client.post("/api/backtests", json=body(strategy_id, cadence="bar", budget_usd="2"))
    assert response.status_code == 202, response.text
    answer = response.json()
    backtest_id = answer["backtest_id"]
    assert answer["estimate"]["decisions"] == 3
    assert answer["estimate"]["variants"] == ["base", "offline"]
    assert (answer["status_url"], answer["report_url"]) == (
        f"/api/backtests/{backtest_id}",
        f"/api/backtests/{backtest_id}/report",
    )
    [asked] = backtester.creates
    assert (asked.cadence, str(asked.budget_usd), asked.estimate_only) == ("bar", "2", False)


async def test_an_estimate_only_is_a_200_with_the_estimate_and_nothing_started(
    client: httpx.AsyncClient, backtester: FakeBacktester, strategy_id: UUID
) -> None:
    response = await client.post("/api/backtests", json=body(strategy_id, estimate_only=True))
    assert response.status_code == 200, response.text
    assert response.json()["backtest_id"] is None
    assert response.json()["estimate"]["model_calls"] == 3
    assert (await client.get("/api/backtests")).json() == []


async def test_an_end_before_the_start_is_a_422_saying_so_and_the_backtester_is_not_asked(
    client: httpx.AsyncClient, backtester: FakeBacktester, strategy_id: UUID
) -> None:
    response = await client.post("/api/backtests", json=body(strategy_id, start=END.isoformat(), end=START.isoformat()))
    assert "must be after start" in refusal(response, 422)
    assert backtester.creates == []


async def test_two_identical_variants_are_a_422(
    client: httpx.AsyncClient, backtester: FakeBacktester, strategy_id: UUID
) -> None:
    variants = [{"prompt_version": 2}, {"prompt_version": 2}]
    response = await client.post("/api/backtests", json=body(strategy_id, variants=variants))
    assert "the variants compared must differ" in refusal(response, 422)


async def test_an_unknown_strategy_is_a_404_before_the_backtester_is_asked(
    client: httpx.AsyncClient, backtester: FakeBacktester
) -> None:
    assert "no strategy with id" in refusal(await client.post("/api/backtests", json=body(uuid4())), 404)
    assert backtester.creates == []


async def test_a_request_the_backtester_refuses_is_a_422_with_its_reason(
    client: httpx.AsyncClient, backtester: FakeBacktester, strategy_id: UUID
) -> None:
    reason = "the budget (0.01 USD) is below the estimate (0.03 USD): raise --budget-usd or shorten the period"
    backtester.on_create = replying(BacktestReply(outcome="invalid", reason=reason))
    response = await client.post("/api/backtests", json=body(strategy_id, budget_usd="0.01"))
    assert response.status_code == 422
    [problem] = response.json()["detail"]
    assert (problem["loc"], problem["msg"]) == (["body"], reason)


async def test_what_the_backtester_cannot_find_is_a_404_with_its_reason(
    client: httpx.AsyncClient, backtester: FakeBacktester, strategy_id: UUID
) -> None:
    backtester.on_create = replying(BacktestReply(outcome="not_found", reason="no prompt version 9 of template x"))
    response = await client.post("/api/backtests", json=body(strategy_id, variants=[{"prompt_version": 9}]))
    assert refusal(response, 404) == "no prompt version 9 of template x"


async def test_a_backtester_that_cannot_run_one_now_is_a_503_with_its_reason(
    client: httpx.AsyncClient, backtester: FakeBacktester, strategy_id: UUID
) -> None:
    backtester.on_create = replying(BacktestReply(outcome="unavailable", reason="PostgreSQL is unreachable"))
    assert refusal(await client.post("/api/backtests", json=body(strategy_id)), 503) == "PostgreSQL is unreachable"


async def test_without_a_backtester_it_is_a_503_saying_to_start_it(
    client: httpx.AsyncClient, strategy_id: UUID
) -> None:
    response = await client.post("/api/backtests", json=body(strategy_id))
    assert refusal(response, 503) == (
        "no backtester service is running to answer; start it (tradelane run backtester) and retry"
    )


async def test_an_answer_that_does_not_fit_the_request_is_a_502(
    client: httpx.AsyncClient, backtester: FakeBacktester, strategy_id: UUID
) -> None:
    backtester.on_create = replying(BacktestReply(outcome="resumed", backtest_id=uuid4()))
    response = await client.post("/api/backtests", json=body(strategy_id))
    assert "answered a create with 'resumed'" in refusal(response, 502)


async def test_backtests_are_listed_newest_first_with_their_progress_and_filtered_by_strategy(
    client: httpx.AsyncClient, repository: BacktestRepository, strategy_id: UUID, state: GatewayState
) -> None:
    other = (await state.strategies.create(StrategyDefinition(name="spy", symbol=SymbolRef(symbol="SPY")))).id
    first = await stored(repository, strategy_id, name="first")
    second = await stored(repository, other, name="second")
    await complete(repository, first)
    listed = (await client.get("/api/backtests")).json()
    assert [item["id"] for item in listed] == [str(second), str(first)]
    progress = listed[1]["progress"]
    assert (progress["decisions_total"], progress["decisions_done"], progress["cache_hits"]) == (6, 6, 3)
    assert (progress["cost_usd"], listed[1]["status"], listed[1]["has_result"]) == ("0.03", "completed", True)
    only = (await client.get("/api/backtests", params={"strategy_id": str(other), "limit": 1})).json()
    assert [item["name"] for item in only] == ["second"]


async def test_a_running_backtest_has_its_decisions_and_no_result_or_report_yet(
    client: httpx.AsyncClient, repository: BacktestRepository, strategy_id: UUID
) -> None:
    backtest_id = await stored(repository, strategy_id)
    detail = (await client.get(f"/api/backtests/{backtest_id}", params={"decisions_limit": 4})).json()
    assert detail["backtest"]["status"] == "running"
    assert [(d["seq"], d["variant"], d["status"]) for d in detail["decisions"]] == [
        (0, "base", "pending"),
        (0, "offline", "pending"),
        (1, "base", "pending"),
        (1, "offline", "pending"),
    ]
    assert (detail["decisions_omitted"], detail["result"], detail["report_url"]) == (2, None, None)
    assert "has no report yet: it is running (0 of 6 decisions done)" in refusal(
        await client.get(f"/api/backtests/{backtest_id}/report"), 409
    )
    assert refusal(await client.get(f"/api/backtests/{backtest_id}/report.json"), 409)


async def test_a_completed_backtest_has_its_result_and_its_report_under_a_script_free_policy(
    client: httpx.AsyncClient, repository: BacktestRepository, strategy_id: UUID
) -> None:
    backtest_id = await stored(repository, strategy_id)
    await complete(repository, backtest_id)
    detail = (await client.get(f"/api/backtests/{backtest_id}")).json()
    assert detail["report_url"] == f"/api/backtests/{backtest_id}/report"
    assert [variant["variant"] for variant in detail["result"]["variants"]] == ["base", "offline"]
    assert {d["action"] for d in detail["decisions"]} == {"HOLD"}
    report = await client.get(f"/api/backtests/{backtest_id}/report")
    assert report.status_code == 200
    assert report.text == REPORT
    assert report.headers["content-type"] == "text/html; charset=utf-8"
    assert report.headers["content-security-policy"] == REPORT_POLICY
    assert "script-src" not in REPORT_POLICY and "default-src 'none'" in REPORT_POLICY
    assert report.headers["x-content-type-options"] == "nosniff"
    result = (await client.get(f"/api/backtests/{backtest_id}/report.json")).json()
    assert result == detail["result"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", ""),
        ("GET", "/report"),
        ("GET", "/report.json"),
        ("POST", "/stop"),
        ("POST", "/resume"),
    ],
)
async def test_an_unknown_backtest_is_a_404_naming_it(client: httpx.AsyncClient, method: str, path: str) -> None:
    unknown = uuid4()
    response = await client.request(method, f"/api/backtests/{unknown}{path}")
    assert refusal(response, 404) == f"no backtest with id {unknown}; list the backtests with GET /api/backtests"


async def test_a_backtest_is_stopped_and_resumed_through_the_backtester(
    client: httpx.AsyncClient, backtester: FakeBacktester, repository: BacktestRepository, strategy_id: UUID
) -> None:
    backtest_id = await stored(repository, strategy_id)
    stopped = await client.post(f"/api/backtests/{backtest_id}/stop")
    assert stopped.status_code == 200, stopped.text
    assert stopped.json() == {
        "backtest_id": str(backtest_id),
        "outcome": "stopped",
        "status_url": f"/api/backtests/{backtest_id}",
    }
    resumed = await client.post(f"/api/backtests/{backtest_id}/resume")
    assert resumed.json()["outcome"] == "resumed"
    assert [(c.backtest_id, c.action) for c in backtester.controls] == [(backtest_id, "stop"), (backtest_id, "resume")]


async def test_a_stop_or_resume_the_backtester_refuses_is_a_409_with_its_reason(
    client: httpx.AsyncClient, backtester: FakeBacktester, repository: BacktestRepository, strategy_id: UUID
) -> None:
    backtest_id = await stored(repository, strategy_id)
    backtester.on_control = replying(BacktestReply(outcome="invalid", reason="the backtest has completed"))
    assert refusal(await client.post(f"/api/backtests/{backtest_id}/resume"), 409) == "the backtest has completed"
    backtester.on_control = replying(BacktestReply(outcome="unavailable", reason="shutting down"))
    assert refusal(await client.post(f"/api/backtests/{backtest_id}/stop"), 503) == "shutting down"


async def test_a_stop_without_a_backtester_is_a_503(
    client: httpx.AsyncClient, repository: BacktestRepository, strategy_id: UUID
) -> None:
    backtest_id = await stored(repository, strategy_id)
    assert "no backtester service is running" in refusal(await client.post(f"/api/backtests/{backtest_id}/stop"), 503)


async def test_a_read_token_follows_backtests_but_cannot_start_stop_or_resume_one(
    client_of: ClientOf, backtester: FakeBacktester, repository: BacktestRepository, strategy_id: UUID
) -> None:
    reader = await client_of("read")
    backtest_id = await stored(repository, strategy_id)
    assert (await reader.get("/api/backtests")).status_code == 200
    assert (await reader.get(f"/api/backtests/{backtest_id}")).status_code == 200
    assert "POST /api/backtests needs a token with scope 'operate'" in refusal(
        await reader.post("/api/backtests", json=body(strategy_id)), 403
    )
    for action in ("stop", "resume"):
        assert "needs a token with scope 'operate'" in refusal(
            await reader.post(f"/api/backtests/{backtest_id}/{action}"), 403
        )
    assert backtester.creates == [] and backtester.controls == []
    operator = await client_of("operate")
    assert (await operator.post("/api/backtests", json=body(strategy_id))).status_code == 202


async def test_starting_and_stopping_are_in_the_audit_trail(
    client: httpx.AsyncClient, backtester: FakeBacktester, strategy_id: UUID
) -> None:
    started = (await client.post("/api/backtests", json=body(strategy_id))).json()
    await client.post(f"/api/backtests/{started['backtest_id']}/stop")
    rows = (await client.get("/api/audit", params={"path_prefix": "/api/backtests"})).json()
    assert [(row["method"], row["path"], row["status"]) for row in rows] == [
        ("POST", f"/api/backtests/{started['backtest_id']}/stop", 200),
        ("POST", "/api/backtests", 202),
    ]
    assert str(strategy_id) in rows[1]["summary"]
