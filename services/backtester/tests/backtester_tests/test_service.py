"""The backtester against real NATS and PostgreSQL: requests answered, decisions published and recorded.

The test's own NATS client plays the services around it: market-data (resolve and bars requests,
with hand-made hourly bars) and the pipeline (it answers each execution request the backtester
publishes with the analysis and signal events, or a failed step). The backtester runs with an LLM
endpoint configured (it never calls it: it only reads which model and price a variant has).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Final
from uuid import UUID, uuid4

import asyncpg
import nats
import pytest
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from pydantic import SecretStr

from services.backtester.tests.backtester_tests.pipeline import (
    analysis_of,
    answer,
    answers_to,
    llm_call,
    publish,
    serve_market_data,
    session_bars,
)
from tests.support.waiting import consistently, eventually
from tradelane.backtester.app import build
from tradelane.backtester.config import BacktesterSettings
from tradelane.backtester.runner import STOPPED_BY_USER
from tradelane.contracts import subjects
from tradelane.contracts.backtest import BacktestControl, BacktestReply
from tradelane.contracts.events import ExecutionRequested, Trigger
from tradelane.contracts.strategy import AnalysisSettings, BarSize, Schedule, StrategyDefinition, SymbolRef
from tradelane.runtime.settings import Settings
from tradelane.runtime.streams import provision
from tradelane.store.backtests import BacktestRepository
from tradelane.store.pool import create_pool
from tradelane.store.prompts import PromptFields, PromptRepository
from tradelane.store.strategies import StrategyRepository

MONDAY: Final = datetime(2025, 3, 3, tzinfo=UTC)
ONE_DAY: Final = (MONDAY, MONDAY + timedelta(days=1))
"""Seven hourly bars close on Monday, 15:00 to 21:00 UTC."""
IN_FLIGHT: Final = 4
LLM: Final = {
    "llm_base_url": "http://llm.invalid/v1",
    "llm_model": "vision-test",
    "llm_prices": {
        model: {"input_per_million": "2", "output_per_million": "8"} for model in ("vision-test", "gpt-4o", "o3")
    },
}


def backtester_settings(settings: Settings) -> BacktesterSettings:
    return BacktesterSettings.model_validate(
        {**settings.model_dump(), **LLM, "backtest_max_in_flight": IN_FLIGHT, "backtest_poll_seconds": 0.2}
    )


@dataclass
class Published:
    """The execution requests the backtester published (on the bus, stored or not), by backtest."""

    by_backtest: dict[UUID, list[ExecutionRequested]] = field(default_factory=lambda: defaultdict(list))

    async def receive(self, msg: Msg) -> None:
        request = ExecutionRequested.model_validate_json(msg.data)
        if request.backtest is not None:
            self.by_backtest[request.backtest.backtest_id].append(request)

    def of(self, backtest_id: UUID) -> list[ExecutionRequested]:
        return list(self.by_backtest[backtest_id])


@dataclass
class Stack:
    client: NatsClient
    pool: asyncpg.Pool[Any]
    published: Published

    @property
    def backtests(self) -> BacktestRepository:
        return BacktestRepository(self.pool)

    async def ask(self, subject: str, body: dict[str, Any]) -> BacktestReply:
        message = await self.client.request(subject, json.dumps(body).encode(), timeout=10)
        return BacktestReply.model_validate_json(message.data)

    async def create(self, strategy_id: UUID, **fields: Any) -> BacktestReply:
        start, end = fields.pop("period", ONE_DAY)
        request = {"strategy_id": str(strategy_id), "start": start.isoformat(), "end": end.isoformat(), **fields}
        return await self.ask(subjects.BACKTEST_CREATE, request)

    async def control(self, backtest_id: UUID, action: str) -> BacktestReply:
        body = BacktestControl.model_validate({"backtest_id": backtest_id, "action": action}).model_dump(mode="json")
        return await self.ask(subjects.BACKTEST_CONTROL, body)

    async def in_flight(self, backtest_id: UUID, count: int) -> list[ExecutionRequested]:
        """The first ``count`` requests of a backtest, once published."""

        def published() -> list[ExecutionRequested] | None:
            found = self.published.of(backtest_id)
            return found[:count] if len(found) >= count else None

        return await eventually(published, f"{count} decisions of {backtest_id} published")

    async def answer_all(self, backtest_id: UUID, total: int) -> None:
        """Answer each decision as it is published (a HOLD), until all ``total`` are done."""
        answered: set[UUID] = set()

        async def all_done() -> bool:
            for request in self.published.of(backtest_id):
                if request.execution_id not in answered:
                    answered.add(request.execution_id)
                    await answer(self.client, request)
            summary = await self.backtests.summary(backtest_id)
            return summary is not None and summary.progress.decisions_done == total

        await eventually(all_done, f"all {total} decisions of {backtest_id} done")


@asynccontextmanager
async def surroundings(
    nats_url: str, credentials: Path | None, nats_options: dict[str, Any], database_url: str
) -> AsyncIterator[tuple[Stack, Settings]]:
    """Streams provisioned, market-data and the published requests watched, a pool: everything but the backtester."""
    settings = Settings(
        nats_url=nats_url,
        nats_credentials_file=credentials,
        database_url=SecretStr(database_url),
        ack_wait_seconds=5,
        retry_backoff_seconds=0.2,
        retry_backoff_max_seconds=1.0,
        log_format="console",
        health_port=0,
    )
    client = await nats.connect(nats_url, **nats_options)
    await provision(client.jetstream(), settings)
    await serve_market_data(client, session_bars(MONDAY - timedelta(days=7), 28))
    published = Published()
    await client.subscribe(subjects.EXECUTION_REQUESTED, cb=published.receive)
    pool = await create_pool(database_url)
    try:
        yield Stack(client, pool, published), settings
    finally:
        await pool.close()
        await client.close()


@pytest.fixture(scope="module")
async def stack(module_servers: Any) -> AsyncIterator[Stack]:
    """One backtester (and its surroundings) for the tests of this module that need no restart."""
    async with surroundings(
        module_servers.nats_url,
        module_servers.nats_credentials_file,
        module_servers.nats_options,
        module_servers.database_url,
    ) as (found, settings):
        service = build(backtester_settings(settings))
        await service.start()
        yield found
        await service.close()


_names = iter(range(1_000_000))


async def stored_strategy(pool: asyncpg.Pool[Any], **analysis: Any) -> UUID:
    definition = StrategyDefinition(
        name=f"aapl-hourly-{next(_names)}",
        symbol=SymbolRef(symbol="AAPL"),
        bar_size=BarSize.HOUR_1,
        duration="30 D",
        schedule=Schedule(cron="30 * * * *", timezone="UTC"),
        analysis=AnalysisSettings(**analysis),
    )
    return (await StrategyRepository(pool).create(definition)).id


async def test_a_backtest_runs_its_decisions_a_few_at_a_time_until_each_is_answered(stack: Stack) -> None:
    """Seven hourly decisions of the strategy and of the offline baseline: four in flight at a time."""
    strategy_id = await stored_strategy(stack.pool)
    reply = await stack.create(strategy_id, cadence="bar")
    assert reply.outcome == "created", reply.reason
    assert reply.backtest_id is not None
    assert reply.estimate is not None
    assert (reply.estimate.decisions, reply.estimate.variants, reply.estimate.model_calls) == (
        7,
        ("base", "offline"),
        7,
    )
    backtest_id = reply.backtest_id

    first = await stack.in_flight(backtest_id, IN_FLIGHT)
    await consistently(
        lambda: len(stack.published.of(backtest_id)) == IN_FLIGHT, "no more than four in flight", seconds=0.3
    )
    assert [(request.backtest.variant, request.backtest.seq) for request in first if request.backtest] == [
        ("base", 0),
        ("offline", 0),
        ("base", 1),
        ("offline", 1),
    ]
    base, offline = first[0], first[1]
    assert (base.trigger, base.as_of, base.strategy_id) == (Trigger.BACKTEST, MONDAY + timedelta(hours=15), strategy_id)
    assert (base.strategy.analysis.analyst, base.strategy.analysis.model, base.strategy.analysis.cache) == (
        "llm",
        "vision-test",
        True,
    )
    assert (offline.strategy.analysis.analyst, offline.as_of) == ("offline", base.as_of)

    await stack.answer_all(backtest_id, total=14)
    records = await stack.backtests.decisions(backtest_id)
    assert {(record.status, record.action, record.bias) for record in records} == {("done", "HOLD", "bullish")}
    assert [record.decided_at for record in records if record.variant == "base"] == [
        MONDAY + timedelta(hours=hour) for hour in range(15, 22)
    ]
    assert len({request.message_id for request in stack.published.of(backtest_id)}) == 14


async def test_each_answer_is_recorded_once_with_its_model_cost_and_cache_use(stack: Stack) -> None:
    """A signal, a refused candidate, a failed step; a redelivery and a message of no backtest change nothing."""
    reply = await stack.create(await stored_strategy(stack.pool), cadence="bar")
    backtest_id = reply.backtest_id
    assert backtest_id is not None
    base_0, offline_0, base_1, offline_1 = await stack.in_flight(backtest_id, IN_FLIGHT)

    live = base_0.model_copy(update={"backtest": None, "message_id": uuid4()})
    await publish(stack.client, analysis_of(live, [llm_call(cached=False, cost="9")]))
    await answer(stack.client, base_0, "hold", [llm_call(cached=True, cost="0"), llm_call(cached=False, cost="0.01")])
    await answer(stack.client, offline_0, "rejected")
    await answer(stack.client, base_1, "failed")
    await answer(stack.client, offline_1, "buy")

    async def first_answer_recorded() -> bool | None:
        decision = next(
            d for d in await stack.backtests.decisions(backtest_id) if d.execution_id == offline_1.execution_id
        )
        return True if decision.status == "done" and decision.cost_usd is not None else None

    # a redelivery comes after the answer was recorded: handled in one batch, the two would race for the record
    await eventually(first_answer_recorded, "the first answer to the last decision recorded")
    for event in answers_to(offline_1, "hold", [llm_call(cached=False, cost="5")]):
        await publish(stack.client, event, again=True)

    async def four_answered() -> list[Any] | None:
        records = (await stack.backtests.decisions(backtest_id))[:4]
        return records if all(record.status in ("done", "failed") for record in records) else None

    records = await eventually(four_answered, "the first four decisions answered")
    summary = await stack.backtests.summary(backtest_id)
    assert summary is not None
    progress = summary.progress
    assert (progress.cache_hits, progress.cache_misses, progress.cost_usd) == (1, 1, Decimal("0.01"))
    assert [(r.variant, r.status, r.action, r.rejected_rule) for r in records] == [
        ("base", "done", "HOLD", None),
        ("offline", "done", "SELL", "min_risk_reward"),
        ("base", "failed", None, None),
        ("offline", "done", "BUY", None),
    ]
    assert records[2].error == "indicators: too few bars for sma_200"


async def test_a_compared_backtest_lists_and_compares_its_variants_in_the_order_asked(stack: Stack) -> None:
    """gpt-4o then o3, the offline baseline after them, and o3 minus gpt-4o: although PostgreSQL's jsonb keeps the
    stored variants shortest name first ('offline', 'model=o3', 'model=gpt-4o'). Only gpt-4o buys, so its trades are
    the comparison's first value and its decisions the only ones highlighted; o3's section says it made no trade."""
    reply = await stack.create(
        await stored_strategy(stack.pool), cadence="bar", variants=[{"model": "gpt-4o"}, {"model": "o3"}]
    )
    backtest_id = reply.backtest_id
    assert backtest_id is not None
    assert reply.estimate is not None
    assert reply.estimate.variants == ("model=gpt-4o", "model=o3", "offline")
    stored = await stack.backtests.strategies(backtest_id)
    assert stored is not None
    assert list(stored) == ["offline", "model=o3", "model=gpt-4o"]  # what the bug comes from

    answered: set[UUID] = set()

    async def completed() -> bool:
        for request in stack.published.of(backtest_id):
            if request.backtest is not None and request.execution_id not in answered:
                answered.add(request.execution_id)
                await answer(stack.client, request, "buy" if request.backtest.variant == "model=gpt-4o" else "hold")
        summary = await stack.backtests.summary(backtest_id)
        assert summary is not None
        assert summary.status != "failed", summary.reason
        return summary.status == "completed"

    await eventually(completed, f"the result of {backtest_id}")
    result = await stack.backtests.result(backtest_id)
    assert result is not None
    assert [variant.variant for variant in result.variants] == ["model=gpt-4o", "model=o3", "offline"]
    gpt_4o, o3, _ = result.variants
    assert gpt_4o.metrics.trades > 0 == o3.metrics.trades
    trades = next(difference for difference in result.comparison if difference.metric == "trades")
    assert (trades.first, trades.second, trades.difference) == (gpt_4o.metrics.trades, 0, -gpt_4o.metrics.trades)
    report = await stack.backtests.report_html(backtest_id)
    assert report is not None
    assert "variants: model=gpt-4o, model=o3, offline rules analyst" in report
    assert "Each difference is model=o3 minus model=gpt-4o on the same decisions." in report
    assert "decision of model=gpt-4o" in report
    assert "decision of model=o3" not in report
    assert report.index("Best and worst decisions of model=gpt-4o") < report.index(
        "Best and worst decisions of model=o3"
    )
    assert "model=o3 made no trade, so no decision of it is highlighted." in report


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"period": (MONDAY + timedelta(days=5), MONDAY + timedelta(days=7))}, "no 1 hour bar closed between"),
        ({"cadence": "*/15 * * * *"}, "runs every 15 minutes, more often than one 1 hour bar"),
        ({"cadence": "0 25 * * *"}, "cadence '0 25 * * *' is not a cron expression (5 fields: minute hour"),
        (
            {"variants": [{"prompt_version": 9}]},
            "has no version 9 (variant 'prompt_version=9'); its versions are 1 to 2",
        ),
        ({"variants": [{"model": "llava:13b"}]}, "model 'llava:13b' of variant 'model=llava:13b' has no price"),
        ({"budget_usd": "0.01"}, "the estimated model cost is $0.0630 (7 calls), above the budget of $0.01"),
        ({"period": (MONDAY + timedelta(days=1), MONDAY)}, "must be after start"),
    ],
    ids=[
        "no-bars",
        "finer-cadence",
        "bad-cron",
        "unknown-version",
        "unpriced-model",
        "over-budget",
        "end-before-start",
    ],
)
async def test_a_request_that_cannot_run_is_invalid_with_the_reason(
    stack: Stack, fields: dict[str, Any], reason: str
) -> None:
    prompts = PromptRepository(stack.pool)
    template = await prompts.create(PromptFields(name=f"swing-{uuid4().hex[:6]}", type="analysis"), "v1 {{ symbol }}")
    await prompts.update(template.id, template.fields, "v2 {{ symbol }}")
    strategy_id = await stored_strategy(stack.pool, prompt_template_id=template.id)
    reply = await stack.create(strategy_id, **fields)
    assert (reply.outcome, reply.backtest_id) == ("invalid", None)
    assert reply.reason is not None
    assert reason in reply.reason
    assert await stack.backtests.summaries(strategy_id=strategy_id) == []


async def test_an_unknown_strategy_is_not_found(stack: Stack) -> None:
    reply = await stack.create(uuid4())
    assert reply.outcome == "not_found"


async def test_an_estimate_only_request_stores_nothing(stack: Stack) -> None:
    strategy_id = await stored_strategy(stack.pool)
    reply = await stack.create(strategy_id, cadence="cron", estimate_only=True)
    assert reply.outcome == "estimated"
    assert reply.estimate is not None
    assert (reply.estimate.decisions, reply.estimate.first_decision_at) == (7, MONDAY + timedelta(hours=15, minutes=30))
    assert reply.estimate.cost_usd == Decimal("0.0630")
    assert await stack.backtests.summaries(strategy_id=strategy_id) == []


async def test_a_stopped_backtest_publishes_nothing_more_until_it_is_resumed(stack: Stack) -> None:
    reply = await stack.create(await stored_strategy(stack.pool), cadence="bar")
    backtest_id = reply.backtest_id
    assert backtest_id is not None
    first = await stack.in_flight(backtest_id, IN_FLIGHT)
    assert (await stack.control(backtest_id, "stop")).outcome == "stopped"
    for request in first:
        await answer(stack.client, request)

    async def in_flight_ones_done() -> bool:
        summary = await stack.backtests.summary(backtest_id)
        return summary is not None and summary.progress.decisions_done == IN_FLIGHT

    await eventually(in_flight_ones_done, "the decisions in flight answered")
    await consistently(lambda: len(stack.published.of(backtest_id)) == IN_FLIGHT, "nothing more published", seconds=0.5)
    summary = await stack.backtests.summary(backtest_id)
    assert summary is not None
    assert (summary.status, summary.reason) == ("stopped", STOPPED_BY_USER)

    assert (await stack.control(backtest_id, "resume")).outcome == "resumed"
    resumed = await stack.in_flight(backtest_id, 2 * IN_FLIGHT)
    assert [(r.backtest.variant, r.backtest.seq) for r in resumed[IN_FLIGHT:] if r.backtest] == [
        ("base", 2),
        ("offline", 2),
        ("base", 3),
        ("offline", 3),
    ]


async def test_a_backtest_stops_when_its_model_cost_reaches_its_budget(stack: Stack) -> None:
    reply = await stack.create(await stored_strategy(stack.pool), cadence="bar", budget_usd="0.07")
    backtest_id = reply.backtest_id
    assert backtest_id is not None
    base_0, *_ = await stack.in_flight(backtest_id, IN_FLIGHT)
    await answer(stack.client, base_0, "hold", [llm_call(cached=False, cost="0.08")])

    async def stopped() -> str | None:
        summary = await stack.backtests.summary(backtest_id)
        return summary.reason if summary is not None and summary.status == "stopped" else None

    assert await eventually(stopped, "the backtest stopped") == "budget of $0.07 reached after 1 decisions"
    refused = await stack.control(backtest_id, "resume")
    assert (refused.outcome, refused.reason) == (
        "invalid",
        "its budget of $0.07 is spent: start a new backtest with a larger budget",
    )


async def test_a_restarted_backtester_publishes_only_the_decisions_still_pending(
    nats_url: str, nats_credentials_file: Path | None, nats_options: dict[str, Any], database_url: str
) -> None:
    """Four published, two answered, then a restart: the new process publishes two more, none of the first four."""
    async with surroundings(nats_url, nats_credentials_file, nats_options, database_url) as (stack, settings):
        first = build(backtester_settings(settings))
        await first.start()
        reply = await stack.create(await stored_strategy(stack.pool), cadence="bar")
        backtest_id = reply.backtest_id
        assert backtest_id is not None
        published = await stack.in_flight(backtest_id, IN_FLIGHT)

        async def marked_published() -> bool:
            return await stack.backtests.in_flight(backtest_id) == IN_FLIGHT

        await eventually(marked_published, "the first four marked published")
        await first.close()
        for request in published[:2]:
            await answer(stack.client, request)

        second = build(backtester_settings(settings))
        await second.start()
        try:
            after = await stack.in_flight(backtest_id, IN_FLIGHT + 2)
            await consistently(
                lambda: len(stack.published.of(backtest_id)) == IN_FLIGHT + 2, "two more published", seconds=0.5
            )
            assert _decisions(after[IN_FLIGHT:]) == [("base", 2), ("offline", 2)]
            await stack.answer_all(backtest_id, total=14)
            every = _decisions(stack.published.of(backtest_id))
            assert len(every) == len(set(every)) == 14
        finally:
            await second.close()


def _decisions(requests: Iterable[ExecutionRequested]) -> list[tuple[str, int]]:
    return [(request.backtest.variant, request.backtest.seq) for request in requests if request.backtest is not None]
