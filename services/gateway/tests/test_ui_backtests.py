"""The backtests pages in-process: the list, the form (estimate, then start), a backtest's page and its progress.

The browser test (test_ui_backtests_browser.py) drives the same pages in Chromium; these check what
the server answers to each request. The backtester is faked on the real bus, as in test_backtests_api.py.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from urllib.parse import urlencode
from uuid import UUID

import httpx
import pytest
from fastapi import FastAPI

from services.gateway.tests.conftest import ApiToken, http_client
from tests.support.backtests import FakeBacktester, answer_decisions, complete, replying, sample_result, store_run
from tradelane.contracts.backtest import BacktestReply, BacktestRequest, VariantOverrides
from tradelane.contracts.strategy import AssetType, BarSize, Schedule, StrategyDefinition, SymbolRef
from tradelane.gateway.state import GatewayState
from tradelane.store.backtests import BacktestRepository

HTML = {"Accept": "text/html"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
START = datetime(2026, 10, 1, tzinfo=UTC)


async def _log_in(browser: httpx.AsyncClient, token: str) -> httpx.AsyncClient:
    session = await browser.post("/api/session", json={"token": token})
    assert session.status_code == 200, session.text
    browser.headers["X-CSRF-Token"] = session.json()["csrf_token"]
    return browser


@pytest.fixture
async def operator(app: FastAPI, api_token: ApiToken) -> AsyncIterator[httpx.AsyncClient]:
    """A browser-like client logged in with an operate token, sending its CSRF token."""
    async with http_client(app) as browser:
        yield await _log_in(browser, await api_token("operate"))


@pytest.fixture
async def reader(app: FastAPI, api_token: ApiToken) -> AsyncIterator[httpx.AsyncClient]:
    async with http_client(app) as browser:
        yield await _log_in(browser, await api_token("read"))


@pytest.fixture
async def minute_strategy_id(state: GatewayState) -> UUID:
    """A strategy as the demo's: BTC around the clock on 1-minute bars, run every minute."""
    stored = await state.strategies.create(
        StrategyDefinition(
            name="btc-1min",
            symbol=SymbolRef(symbol="BTC", exchange="PAXOS", currency="USD", asset_type=AssetType.CRYPTO),
            bar_size=BarSize.MIN_1,
            duration="1 D",
            schedule=Schedule(cron="* * * * *", timezone="UTC"),
        )
    )
    return stored.id


def fields(strategy_id: UUID, /, **changes: str) -> dict[str, str]:
    return {
        "strategy_id": str(strategy_id),
        "start": "2026-10-01",
        "end": "2026-11-01",
        "cadence": "cron",
        "costs.commission_rate": "0.0002",
        "costs.slippage_bps": "2",
        **changes,
    }


async def _post(client: httpx.AsyncClient, path: str, values: dict[str, str]) -> httpx.Response:
    return await client.post(path, content=urlencode(values), headers=FORM | HTML)


async def test_the_page_lists_backtests_and_offers_the_form_with_the_strategy_chosen(
    operator: httpx.AsyncClient, repository: BacktestRepository, strategy_id: UUID
) -> None:
    backtest_id = await store_run(
        repository, BacktestRequest(strategy_id=strategy_id, start=START, end=START.replace(month=11))
    )
    await complete(repository, backtest_id)
    page = (await operator.get("/backtests", params={"strategy_id": str(strategy_id)}, headers=HTML)).text
    assert f'href="/backtests/{backtest_id}"' in page
    assert "2026-10-01 → 2026-11-01" in page
    assert f'href="/api/backtests/{backtest_id}/report"' in page
    assert "6/6" in page
    assert f'<option value="{strategy_id}" selected>aapl-daily</option>' in page
    assert 'id="backtest-form"' in page and 'type="date"' in page


async def test_the_form_decides_every_hour_by_default_for_a_strategy_on_one_minute_bars(
    operator: httpx.AsyncClient, minute_strategy_id: UUID
) -> None:
    """Not the strategy's cron (every minute: 43,200 decisions a month), but some 720."""
    page = (await operator.get("/backtests", params={"strategy_id": str(minute_strategy_id)}, headers=HTML)).text
    assert '<option value="0 * * * *" selected>every hour, on the hour</option>' in page
    assert '<option value="cron">the strategy&#39;s cron</option>' in page


async def test_the_form_decides_at_every_bar_by_default_for_a_daily_strategy(
    operator: httpx.AsyncClient, strategy_id: UUID
) -> None:
    """Not the strategy's cron (every 5 minutes by default), which is finer than a daily bar."""
    page = (await operator.get("/backtests", params={"strategy_id": str(strategy_id)}, headers=HTML)).text
    assert '<option value="bar" selected>every bar&#39;s close</option>' in page


async def _estimated_cadence_without_a_strategy_chosen(
    operator: httpx.AsyncClient, backtester: FakeBacktester, chosen: UUID
) -> str:
    """The cadence the estimate asks with when the form, opened without a strategy, is sent with ``chosen``."""
    page = (await operator.get("/backtests", headers=HTML)).text
    assert '<option value="" selected>the default for its bar size' in page
    answer = await _post(operator, "/backtests/estimate", fields(chosen, cadence=""))
    assert 'id="backtest-estimate"' in answer.text
    assert '<option value="" selected>the default for its bar size' in answer.text
    [asked] = backtester.creates
    return asked.cadence


async def test_the_default_cadence_offered_before_a_strategy_is_chosen_is_hourly_for_one_minute_bars(
    operator: httpx.AsyncClient, backtester: FakeBacktester, minute_strategy_id: UUID
) -> None:
    assert await _estimated_cadence_without_a_strategy_chosen(operator, backtester, minute_strategy_id) == "0 * * * *"


async def test_the_default_cadence_offered_before_a_strategy_is_chosen_is_every_bar_for_daily_bars(
    operator: httpx.AsyncClient, backtester: FakeBacktester, strategy_id: UUID
) -> None:
    assert await _estimated_cadence_without_a_strategy_chosen(operator, backtester, strategy_id) == "bar"


async def test_a_read_token_sees_the_list_without_the_form(reader: httpx.AsyncClient, strategy_id: UUID) -> None:
    page = await reader.get("/backtests", headers=HTML)
    assert page.status_code == 200
    assert 'id="backtest-form"' not in page.text
    refused = await _post(reader, "/backtests/estimate", fields(strategy_id))
    assert refused.status_code == 403


async def test_the_form_first_shows_the_estimate_and_a_button_to_start(
    operator: httpx.AsyncClient, backtester: FakeBacktester, strategy_id: UUID
) -> None:
    answer = await _post(operator, "/backtests/estimate", fields(strategy_id, budget_usd="1.5"))
    assert answer.status_code == 200, answer.text
    assert 'id="backtest-estimate"' in answer.text
    assert "3 per variant" in answer.text and "0.0300 USD" in answer.text
    assert 'id="backtest-start" hx-post="/backtests"' in answer.text
    [asked] = backtester.creates
    assert asked.estimate_only
    assert (asked.start, asked.cadence, str(asked.budget_usd)) == (START, "cron", "1.5")


async def test_starting_takes_the_browser_to_the_backtests_page(
    operator: httpx.AsyncClient, backtester: FakeBacktester, strategy_id: UUID
) -> None:
    answer = await _post(
        operator,
        "/backtests",
        fields(strategy_id, analyst="llm", compare="prompt_version", compare_values="2, 3", cadence="custom",
               cadence_cron="30 15 * * 1-5"),
    )  # fmt: skip
    assert answer.status_code == 200, answer.text
    assert answer.headers["HX-Redirect"].startswith("/backtests/")
    [asked] = backtester.creates
    assert not asked.estimate_only
    assert asked.cadence == "30 15 * * 1-5"
    assert asked.variants == (
        VariantOverrides(analyst="llm", prompt_version=2),
        VariantOverrides(analyst="llm", prompt_version=3),
    )


@pytest.mark.parametrize(
    ("changes", "where", "said"),
    [
        ({"strategy_id": ""}, 'id="e-strategy_id"', "choose the strategy to backtest"),
        ({"end": "2026-09-01"}, 'id="backtest-error"', "must be after start"),
        ({"start": ""}, 'id="e-start"', "Input should be a valid datetime"),
        ({"compare": "model", "compare_values": "gpt-4o"}, 'id="e-compare_values"', "compare exactly two values"),
        ({"prompt_version": "0"}, 'id="e-prompt_version"', "greater than or equal to 1"),
        ({"cadence": "custom"}, 'id="e-cadence_cron"', "give a cron expression"),
        ({"costs.slippage_bps": "-1"}, 'id="e-costs-slippage_bps"', "greater than or equal to 0"),
    ],
)
async def test_a_refused_form_shows_the_error_at_its_field_and_asks_nothing(
    operator: httpx.AsyncClient,
    backtester: FakeBacktester,
    strategy_id: UUID,
    changes: dict[str, str],
    where: str,
    said: str,
) -> None:
    answer = await _post(operator, "/backtests/estimate", fields(strategy_id, **changes))
    assert answer.status_code == 200
    shown = answer.text[answer.text.index(where) :]
    assert said in shown[: shown.index("</p>")]
    assert backtester.creates == []


async def test_the_backtesters_refusal_is_shown_above_the_form(
    operator: httpx.AsyncClient, backtester: FakeBacktester, strategy_id: UUID
) -> None:
    backtester.on_create = replying(
        BacktestReply(outcome="invalid", reason="no bars between 2026-10-01 and 2026-11-01")
    )
    answer = await _post(operator, "/backtests/estimate", fields(strategy_id))
    assert 'id="backtest-error"' in answer.text and "no bars between 2026-10-01 and 2026-11-01" in answer.text
    assert 'id="backtest-start"' not in answer.text


async def test_without_a_backtester_the_form_says_to_start_one(operator: httpx.AsyncClient, strategy_id: UUID) -> None:
    answer = await _post(operator, "/backtests/estimate", fields(strategy_id))
    assert "no backtester service is running to answer; start it (tradelane run backtester)" in answer.text


async def test_a_running_backtests_page_polls_its_progress_and_offers_stop(
    operator: httpx.AsyncClient, repository: BacktestRepository, strategy_id: UUID
) -> None:
    backtest_id = await store_run(
        repository, BacktestRequest(strategy_id=strategy_id, start=START, end=START.replace(month=11))
    )
    page = (await operator.get(f"/backtests/{backtest_id}", headers=HTML)).text
    polled = f'hx-get="/backtests/{backtest_id}/progress\\?shown=running&amp;watched=[0-9.]+:0" hx-trigger="every 2s"'
    assert re.search(polled, page)
    assert 'id="backtest-stop"' in page and 'id="backtest-report"' not in page
    assert page.count('<tr>\n      <td data-label="#">') == 6


async def test_a_backtests_page_says_the_cron_and_time_zone_its_cadence_replays(
    reader: httpx.AsyncClient, repository: BacktestRepository, strategy_id: UUID
) -> None:
    """A 'cron' cadence is shown as the strategy's schedule it replays, not as the bare word."""
    backtest_id = await store_run(
        repository,
        BacktestRequest(strategy_id=strategy_id, start=START, end=START.replace(month=11), cadence="cron"),
        schedule=Schedule(cron="0 16 * * 1-5", timezone="America/New_York"),
    )
    page = (await reader.get(f"/backtests/{backtest_id}", headers=HTML)).text
    assert "<dt>Decide at</dt><dd>cron 0 16 * * 1-5 (America/New_York), the strategy&#39;s schedule</dd>" in page
    listed = (await reader.get("/backtests", headers=HTML)).text
    assert "deciding at cron 0 16 * * 1-5 (America/New_York), the strategy&#39;s schedule" in listed


async def test_a_running_backtests_progress_says_the_time_left_at_the_pace_it_watched(
    operator: httpx.AsyncClient, repository: BacktestRepository, strategy_id: UUID
) -> None:
    """The fragment carries since when the page watches (a time and the decisions finished then) from poll to poll;
    the time left is the decisions still to do at the pace seen since, once one has finished."""
    backtest_id = await store_run(
        repository, BacktestRequest(strategy_id=strategy_id, start=START, end=START.replace(month=11))
    )
    page = (await operator.get(f"/backtests/{backtest_id}", headers=HTML)).text
    assert "measuring the pace" in page
    await answer_decisions(repository, backtest_id, count=2)
    watched = f"{time.time() - 1000:.3f}:0"  # 2 of 6 finished in 1,000 s: the 4 left take 2,000 s
    fragment = await operator.get(
        f"/backtests/{backtest_id}/progress", params={"shown": "running", "watched": watched}, headers=HTML
    )
    assert re.search(r'id="backtest-left">about 33 min 2\d s<', fragment.text), fragment.text
    assert f"watched={watched}" in fragment.text


async def test_a_stop_from_the_page_shows_what_the_backtester_answered(
    operator: httpx.AsyncClient, backtester: FakeBacktester, repository: BacktestRepository, strategy_id: UUID
) -> None:
    backtest_id = await store_run(
        repository, BacktestRequest(strategy_id=strategy_id, start=START, end=START.replace(month=11))
    )
    stopped = await operator.post(f"/backtests/{backtest_id}/stop", headers=HTML)
    assert "Backtest stopped." in stopped.text and 'id="backtest-resume"' in stopped.text
    assert "every 2s" not in stopped.text
    backtester.on_control = replying(BacktestReply(outcome="invalid", reason="it has completed"))
    refused = await operator.post(f"/backtests/{backtest_id}/resume", headers=HTML)
    assert 'class="error"' in refused.text and "it has completed" in refused.text


async def test_once_it_has_ended_the_progress_reloads_the_page_which_shows_the_results(
    operator: httpx.AsyncClient, repository: BacktestRepository, strategy_id: UUID
) -> None:
    request = BacktestRequest(
        strategy_id=strategy_id,
        start=START,
        end=START.replace(month=11),
        variants=(VariantOverrides(prompt_version=2), VariantOverrides(prompt_version=3)),
    )
    backtest_id = await store_run(repository, request)
    still = await operator.get(f"/backtests/{backtest_id}/progress", params={"shown": "running"}, headers=HTML)
    assert "HX-Refresh" not in still.headers
    await complete(repository, backtest_id)
    ended = await operator.get(f"/backtests/{backtest_id}/progress", params={"shown": "running"}, headers=HTML)
    assert ended.headers["HX-Refresh"] == "true"
    page = (await operator.get(f"/backtests/{backtest_id}", headers=HTML)).text
    assert 'id="backtest-metrics"' in page and "buy-and-hold" in page and "5.0 %" in page
    assert 'id="backtest-comparison"' in page and "could be chance" in page and "differs" in page
    assert f'href="/api/backtests/{backtest_id}/report"' in page
    assert "every 2s" not in page


async def test_a_comparison_is_labelled_as_its_result_compared_the_variants(
    reader: httpx.AsyncClient, repository: BacktestRepository, strategy_id: UUID
) -> None:
    """A result stored before the variants were taken in the order asked compared them the other way round (o3,
    then gpt-4o): its columns are named by the result, not by the request."""
    request = BacktestRequest(
        strategy_id=strategy_id,
        start=START,
        end=START.replace(month=11),
        variants=(VariantOverrides(model="gpt-4o"), VariantOverrides(model="o3")),
    )
    backtest_id = await store_run(repository, request)
    await complete(repository, backtest_id, sample_result(("model=o3", "model=gpt-4o"), compared=True))
    page = (await reader.get(f"/backtests/{backtest_id}", headers=HTML)).text
    assert "model=gpt-4o - model=o3" in page
    assert "model=o3 - model=gpt-4o" not in page


async def test_each_strategy_links_to_a_backtest_of_it(operator: httpx.AsyncClient, strategy_id: UUID) -> None:
    page = (await operator.get("/strategies", headers=HTML)).text
    assert f'href="/backtests?strategy_id={strategy_id}#backtest-form"' in page


async def test_a_hold_for_low_confidence_says_why_not_as_a_rejection_names_its_rule(
    reader: httpx.AsyncClient, repository: BacktestRepository, strategy_id: UUID
) -> None:
    """The signal rules accept a HOLD for low confidence, breaking no rule, with a note among its reasons: the
    "Why not" cell shows that note, as it shows the rule a rejected candidate broke."""
    backtest_id = await store_run(
        repository, BacktestRequest(strategy_id=strategy_id, start=START, end=START.replace(month=11))
    )
    held, rejected, *_ = await repository.waiting(backtest_id, 2)
    reasons = ["Higher lows since Tuesday", "HOLD: confidence 40 is below the minimum 60"]
    await repository.record_signal(
        held.execution_id,
        action="HOLD",
        bias="bullish",
        confidence=40,
        rejected_rule=None,
        signal={"signal": {"action": "HOLD", "reasons": reasons}},
    )
    await repository.record_signal(
        rejected.execution_id,
        action="BUY",
        bias="bullish",
        confidence=80,
        rejected_rule="min_risk_reward",
        signal={"candidate": {"action": "BUY", "reasons": reasons[:1]}, "rule": "min_risk_reward"},
    )
    page = (await reader.get(f"/backtests/{backtest_id}", headers=HTML)).text
    why_not = re.findall(r'<td data-label="Why not">(.*?)</td>', page)
    assert why_not[:2] == ["confidence 40 is below the minimum 60", "<code>min_risk_reward</code>"]
