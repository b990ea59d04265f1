"""The market-data service as it runs: real NATS and Postgres, IB as the fake TWS on loopback."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from uuid import uuid4

import nats.errors
import pytest
from nats.aio.client import Client as NatsClient

from market_data_tests.tws_fixtures import AAPL_BARS, AS_OF
from tests.support.messages import collect
from tradelane.contracts import subjects
from tradelane.contracts.envelope import BacktestTag
from tradelane.contracts.events import BarsFetched, ExecutionRequested, StepFailed, Trigger
from tradelane.contracts.strategy import AnalysisSettings, BarSize, StrategyDefinition, SymbolRef
from tradelane.contracts.symbols import IbStatus, SymbolSearchRequest, SymbolSearchResult
from tradelane.ib.testing import AAPL, FakeTws, In
from tradelane.market_data.app import build
from tradelane.market_data.config import MarketDataSettings
from tradelane.runtime.bus import dedup_headers
from tradelane.runtime.payloads import PayloadStore
from tradelane.runtime.service import Service
from tradelane.runtime.settings import Settings

Starter = Callable[..., Awaitable[Service]]


@pytest.fixture
async def start_market_data(settings: Settings) -> AsyncIterator[Starter]:
    """Start market-data with ``overrides`` on this test's settings; stopped at the end."""
    started: list[Service] = []

    async def start(**overrides: object) -> Service:
        service = build(MarketDataSettings.model_validate({**settings.model_dump(), **overrides}))
        await service.start()  # ready: its subscriptions have reached the server
        started.append(service)
        return service

    yield start
    for service in started:
        await service.close()


def ib_settings(tws: FakeTws) -> dict[str, object]:
    return {
        "market_data_provider": "ib",
        "ib_host": tws.host,
        "ib_port": tws.port,
        "ib_client_id": 21,
        "ib_timeout": 2,
        "ib_reconnect_initial_seconds": 0.1,
        "ib_reconnect_max_seconds": 0.5,
        "ib_identical_request_gap_seconds": 0,
    }


def execution(symbol: str = "AAPL", *, timeframes: tuple[BarSize, ...] = ()) -> ExecutionRequested:
    return ExecutionRequested(
        execution_id=uuid4(),
        strategy_id=uuid4(),
        strategy=StrategyDefinition(
            name="ib test",
            symbol=SymbolRef(symbol=symbol),
            duration="1 Y",
            analysis=AnalysisSettings(timeframes=timeframes),
        ),
        trigger=Trigger.MANUAL,
        as_of=AS_OF,
    )


async def publish(client: NatsClient, request: ExecutionRequested) -> None:
    await client.jetstream().publish(
        subjects.EXECUTION_REQUESTED,
        request.model_dump_json().encode(),
        headers=dedup_headers(request),
        stream=subjects.PIPELINE_STREAM,
    )


async def ask(client: NatsClient, subject: str, body: dict[str, object]) -> dict[str, object]:
    """The service's answer; "no responders" is asked again for up to 2 s.

    On a loaded machine the first request right after the service started (and flushed its
    subscriptions) sometimes met no responders: 3 runs in 12 with both CPUs busy.
    """
    deadline = asyncio.get_running_loop().time() + 2
    while True:
        try:
            reply = await client.request(
                subject, json.dumps(body).encode(), timeout=5, headers={"content-type": "application/json"}
            )
        except nats.errors.NoRespondersError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.02)
            continue
        answer: dict[str, object] = json.loads(reply.data)
        return answer


async def test_a_step_fetches_the_fixture_bars_from_ib(
    start_market_data: Starter, tws: FakeTws, nats_client: NatsClient, payloads: PayloadStore
) -> None:
    await start_market_data(**ib_settings(tws))
    fetched = await collect(nats_client, subjects.MARKET_DATA_FETCHED)
    request = execution()
    await publish(nats_client, request)
    event = BarsFetched.model_validate_json((await fetched.next(10)).data)
    assert (event.execution_id, event.provider, event.symbol.conid) == (request.execution_id, "ib", AAPL.conid)
    expected = [bar for bar in AAPL_BARS if AS_OF - timedelta(days=365) <= bar.time < AS_OF]
    bars = await payloads.bars(event.bars)
    assert [(bar.time, bar.close) for bar in bars] == [(bar.time, bar.close) for bar in expected]


async def test_an_extra_timeframe_is_fetched_from_ib_at_its_own_bar_size_and_history(
    start_market_data: Starter, tws: FakeTws, nats_client: NatsClient
) -> None:
    await start_market_data(**ib_settings(tws))
    fetched = await collect(nats_client, subjects.MARKET_DATA_FETCHED)
    await publish(nats_client, execution(timeframes=(BarSize.WEEK_1,)))
    event = BarsFetched.model_validate_json((await fetched.next(10)).data)
    asked = [(request.fields[16], request.fields[17]) for request in tws.requests_of(In.REQ_HISTORICAL_DATA)]
    assert asked == [("1 day", "1 Y"), ("1 week", "5 Y")]
    [weekly] = event.timeframes
    assert weekly.bar_size == BarSize.WEEK_1
    assert weekly.bars.last_bar.time < AS_OF


async def test_a_step_cut_by_a_dropped_connection_is_retried_after_reconnecting_and_completes(
    start_market_data: Starter, tws: FakeTws, nats_client: NatsClient
) -> None:
    await start_market_data(**ib_settings(tws))
    fetched = await collect(nats_client, subjects.MARKET_DATA_FETCHED)
    failed = await collect(nats_client, subjects.STEP_FAILED)
    tws.drop_on_next(In.REQ_HISTORICAL_DATA)
    request = execution()
    await publish(nats_client, request)
    event = BarsFetched.model_validate_json((await fetched.next(15)).data)
    assert event.execution_id == request.execution_id
    assert event.bars.count > 200
    assert len(tws.requests_of(In.REQ_HISTORICAL_DATA)) == 2
    assert tws.sessions_started == 2
    assert failed.empty()


async def test_an_unknown_symbol_fails_the_step_once_with_ibs_code(
    start_market_data: Starter, tws: FakeTws, nats_client: NatsClient
) -> None:
    await start_market_data(**ib_settings(tws))
    failed = await collect(nats_client, subjects.STEP_FAILED)
    await publish(nats_client, execution("NOPE"))
    failure = StepFailed.model_validate_json((await failed.next(10)).data)
    assert (failure.step, failure.kind, failure.deliveries) == ("market_data", "permanent", 1)
    assert "error 200: No security definition has been found" in failure.error
    assert len(tws.requests_of(In.REQ_CONTRACT_DETAILS)) == 1


async def test_while_ib_is_down_the_step_is_retried_not_failed(
    start_market_data: Starter, tws: FakeTws, nats_client: NatsClient
) -> None:
    """A stopped TWS naks the step with a delay; once TWS is back on its port, the step completes."""
    await tws.stop()
    await start_market_data(**ib_settings(tws))
    fetched = await collect(nats_client, subjects.MARKET_DATA_FETCHED)
    failed = await collect(nats_client, subjects.STEP_FAILED)
    await publish(nats_client, execution())
    await asyncio.sleep(0.5)
    await tws.start()
    event = BarsFetched.model_validate_json((await fetched.next(15)).data)
    assert event.provider == "ib"
    assert failed.empty()


async def test_ib_status_is_answered_over_the_bus(
    start_market_data: Starter, tws: FakeTws, nats_client: NatsClient
) -> None:
    await start_market_data(**ib_settings(tws))
    status = IbStatus.model_validate(await ask(nats_client, subjects.IB_STATUS, {}))
    assert (status.provider, status.connected, status.server_version, status.client_id) == ("ib", True, 178, 21)
    assert status.accounts == ("DU1234567",)
    assert status.pacing is not None


async def test_the_simulated_default_answers_search_and_status_over_the_bus(
    start_market_data: Starter, nats_client: NatsClient
) -> None:
    await start_market_data()
    found = SymbolSearchResult.model_validate(
        await ask(nats_client, subjects.SYMBOLS_SEARCH, SymbolSearchRequest(text="msft").model_dump())
    )
    assert ([hit.symbol for hit in found.results], found.provider) == (["MSFT"], "simulated")
    status = IbStatus.model_validate(await ask(nats_client, subjects.IB_STATUS, {}))
    assert (status.provider, status.connected) == ("simulated", False)
    assert "TRADELANE_MARKET_DATA_PROVIDER=ib" in status.detail


async def test_a_backtests_decisions_ask_ib_once_and_see_only_closed_bars(
    start_market_data: Starter, tws: FakeTws, nats_client: NatsClient, payloads: PayloadStore
) -> None:
    """The first decision's window is fetched from IB up to now and stored; the next decision reads the store."""
    await start_market_data(**ib_settings(tws))
    fetched = await collect(nats_client, subjects.MARKET_DATA_FETCHED_BACKTEST)
    tag = BacktestTag(backtest_id=uuid4(), variant="base", seq=0, decided_at=AS_OF)
    decisions = [
        execution().model_copy(
            update={
                "as_of": AS_OF - timedelta(days=days),
                "backtest": tag.model_copy(update={"decided_at": AS_OF - timedelta(days=days)}),
                "trigger": Trigger.BACKTEST,
            }
        )
        for days in (20, 10)
    ]
    for decision in decisions:
        await publish(nats_client, decision)
        event = BarsFetched.model_validate_json((await fetched.next(10)).data)
        assert (event.execution_id, event.backtest) == (decision.execution_id, decision.backtest)
        closed = [
            (bar.time, bar.close)
            for bar in AAPL_BARS
            if decision.as_of - timedelta(days=365) < bar.time and bar.time + timedelta(days=1) <= decision.as_of
        ]
        assert [(bar.time, bar.close) for bar in await payloads.bars(event.bars)] == closed
    assert len(tws.requests_of(In.REQ_HISTORICAL_DATA)) == 1
