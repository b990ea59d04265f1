"""The lineage viewer's pages in-process: the graph of a recorded execution, scope-gated replay, the diff page.

The browser test (tests/e2e/test_web_ui_lineage.py) drives them in Chromium against the whole system.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import httpx
import pytest
from fastapi import FastAPI

from services.gateway.tests.conftest import ApiToken, http_client
from tradelane.contracts import subjects
from tradelane.gateway.state import GatewayState
from tradelane.gateway.ui.pipeline_graph import NARROW, WIDE, pipeline_graph
from tradelane.runtime.payloads import PayloadStore
from tradelane.store.lineage_retention import prune_step_messages

from .test_execution_steps_api import record, recorded_with_references
from .test_executions_api import _step

HTML = {"Accept": "text/html,application/xhtml+xml"}


@pytest.fixture
async def browser(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client with no token of its own that keeps cookies, as a browser does."""
    async with http_client(app) as client:
        yield client


async def _signed_in(browser: httpx.AsyncClient, token: str) -> None:
    response = await browser.post("/api/session", json={"token": token})
    assert response.status_code == 200, response.text


async def _running_execution(state: GatewayState) -> str:
    """An execution the lineage has seen reach its chart step."""
    execution_id, strategy_id = uuid4(), uuid4()
    for name, subject in [
        ("requested", subjects.EXECUTION_REQUESTED),
        ("market_data", subjects.MARKET_DATA_FETCHED),
        ("indicators", subjects.INDICATORS_COMPUTED),
        ("chart", subjects.CHART_RENDERED),
    ]:
        await state.lineage.record(
            _step(execution_id, name, strategy_id=strategy_id, subject=subject, duration_ms=1500.0)
        )
    return str(execution_id)


def _node_statuses(page: str) -> dict[str, str]:
    return dict(re.findall(r'data-step="([a-z_]+)" data-status="([a-z_]+)"', page))


async def test_the_graph_shows_each_steps_status_and_what_is_still_to_come(
    browser: httpx.AsyncClient, api_token: ApiToken, state: GatewayState
) -> None:
    await _signed_in(browser, await api_token("read"))
    execution_id = await _running_execution(state)
    response = await browser.get(f"/executions/{execution_id}", headers=HTML)
    assert response.status_code == 200
    page = response.text
    assert _node_statuses(page) == {
        "requested": "succeeded",
        "market_data": "succeeded",
        "indicators": "succeeded",
        "chart": "succeeded",
        "analysis": "running",
        "signal": "pending",
    }
    assert "succeeded · 1.5 s" in page
    assert 'id="pipeline-graph"' in page and 'id="pipeline-graph-narrow"' in page  # the stylesheet shows one
    assert " style=" not in page and "<style" not in page
    assert f'href="/api/executions/{execution_id}/export?format=csv"' in page
    assert 'id="no-orders"' in page


def test_the_narrow_graph_is_one_column_of_short_downward_arrows_as_wide_as_a_phones_card() -> None:
    wide, narrow = pipeline_graph(None, WIDE), pipeline_graph(None, NARROW)
    assert [node.name for node in narrow.nodes] == [node.name for node in wide.nodes]
    assert {node.x for node in narrow.nodes} == {narrow.nodes[0].x}
    assert [node.y for node in narrow.nodes] == sorted(node.y for node in narrow.nodes)
    assert all(len({point.split(",")[0] for point in edge.path[1:].split(" L")}) == 1 for edge in narrow.edges)
    assert narrow.width <= 340 < wide.width  # a card's inside on a 390-pixel screen: drawn at about its size


async def test_the_page_shows_steps_in_summary_and_an_opened_step_brings_its_messages_and_what_they_refer_to(
    browser: httpx.AsyncClient, api_token: ApiToken, state: GatewayState, payloads: PayloadStore
) -> None:
    """The page (and its live updates) carry no step's messages: a step's come when it is opened, resolved."""
    await _signed_in(browser, await api_token("read"))
    recorded = await recorded_with_references(state, payloads)
    call = {"purpose": "analysis", "timeframe": "1 day", "model": "gpt-4o-mini", "latency_ms": 850.0}
    call |= {"prompt": "Read AAPL's daily chart", "tokens_in": 1200, "tokens_out": 300}
    analysis = {"analysis": {"bias": "bullish", "confidence": 40, "model": "gpt-4o-mini"}, "llm_calls": [call]}
    (analysed,) = await record(state, recorded.execution_id, ("analysis", subjects.ANALYSIS_COMPLETED, analysis))
    page = (await browser.get(f"/executions/{recorded.execution_id}", headers=HTML)).text
    opened = f"/executions/{recorded.execution_id}/steps/{recorded.indicators.message_id}"
    assert f'hx-get="{opened}"' in page and "Loading the step's messages" in page
    assert "Read AAPL" not in page and "Output message" not in page

    indicators = (await browser.get(opened, headers=HTML)).text
    assert "Output message" in indicators and "What it refers to" in indicators
    assert recorded.series.name in indicators and "61.25" in indicators  # the series, resolved
    prompted = await browser.get(f"/executions/{recorded.execution_id}/steps/{analysed.message_id}", headers=HTML)
    assert 'class="llm-prompt">Read AAPL&#39;s daily chart' in prompted.text


async def test_only_a_token_that_may_operate_sees_the_replay_form(
    browser: httpx.AsyncClient, api_token: ApiToken, state: GatewayState
) -> None:
    execution_id = await _running_execution(state)
    await _signed_in(browser, await api_token("read", name="reader"))
    assert 'id="replay-form"' not in (await browser.get(f"/executions/{execution_id}", headers=HTML)).text
    await _signed_in(browser, await api_token("operate", name="operator"))
    assert 'id="replay-form"' in (await browser.get(f"/executions/{execution_id}", headers=HTML)).text


async def test_a_replay_the_api_refuses_is_explained_on_the_form(
    browser: httpx.AsyncClient, api_token: ApiToken, state: GatewayState
) -> None:
    execution_id = await _running_execution(state)
    await _signed_in(browser, await api_token("operate"))
    csrf = (await browser.get("/api/session")).json()["csrf_token"]
    refused = await browser.post(
        f"/executions/{execution_id}/replay",
        content="from_step=signal&prompt_version=2&model=",
        headers={"X-CSRF-Token": csrf, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert refused.status_code == 200
    assert 'id="replay-e-from_step"' in refused.text
    assert "take effect only in the analysis step" in refused.text


async def test_the_diff_page_lists_the_steps_only_one_execution_ran(
    browser: httpx.AsyncClient, api_token: ApiToken, state: GatewayState
) -> None:
    first, second = await _running_execution(state), await _running_execution(state)
    await _signed_in(browser, await api_token("read"))
    response = await browser.get(f"/executions/{first}/diff/{second}", headers=HTML)
    assert response.status_code == 200
    assert 'data-step="chart"' in response.text


async def test_a_pruned_execution_still_shows_its_steps_and_an_opened_step_says_its_messages_were_pruned(
    browser: httpx.AsyncClient, api_token: ApiToken, state: GatewayState
) -> None:
    await _signed_in(browser, await api_token("read"))
    execution_id = await _running_execution(state)
    await prune_step_messages(state.pool, datetime.now(UTC) + timedelta(minutes=1))
    detail = await state.lineage.execution(UUID(execution_id))
    assert detail is not None and all(step.pruned_at is not None for step in detail.steps)
    page = await browser.get(f"/executions/{execution_id}", headers=HTML)
    assert page.status_code == 200 and _node_statuses(page.text)["chart"] == "succeeded"
    assert "Its messages were pruned on" in page.text and "Loading the step's messages" not in page.text
    opened = await browser.get(f"/executions/{execution_id}/steps/{detail.steps[-1].message_id}", headers=HTML)
    assert opened.status_code == 410 and "was pruned" in opened.text
