"""Wiring of the backtester: its settings, its Postgres pool, its requests, its consumers and its runner."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any, Final

from tradelane.backtester.config import BacktesterSettings
from tradelane.backtester.creation import Creator, ModelChoice
from tradelane.backtester.finish import ChartLoader, finish
from tradelane.backtester.recording import DecisionRecorder
from tradelane.backtester.runner import Runner
from tradelane.contracts import subjects
from tradelane.contracts.backtest import BacktestReply
from tradelane.runtime.injection import Context, NatsMessage
from tradelane.runtime.market_data import MarketData
from tradelane.runtime.service import Service
from tradelane.runtime.settings import Settings
from tradelane.runtime.streams import BACKTESTER_CONSUMERS
from tradelane.store.backtests import BacktestRepository
from tradelane.store.book.reads import BookReads
from tradelane.store.migrate import migrate
from tradelane.store.pool import create_pool
from tradelane.store.prompts import PromptRepository
from tradelane.store.strategies import StrategyRepository
from tradelane.trading.risk import Guardrails

BARS_PER_REQUEST: Final = 2000
"""Bars asked of market-data in one request while planning (IB answers at most about that many at once)."""

CREATOR = "backtest_creator"
RUNNER = "backtest_runner"
RECORDER = "decision_recorder"
"""Where the start hook leaves the creator, the runner and the recorder in FastStream's context for the handlers."""
Creating = Annotated[Creator, Context(CREATOR)]
Running = Annotated[Runner, Context(RUNNER)]
Recording = Annotated[DecisionRecorder, Context(RECORDER)]


def build(settings: Settings | None = None) -> Service:
    """The backtester: backtest requests in, decisions out as executions, their answers in."""
    own = BacktesterSettings.model_validate(settings.model_dump()) if settings else BacktesterSettings()
    # An answer it could not record is no failed execution: like the ledger, it only dead-letters.
    service = Service("backtester", own, report_failures=False)
    # the steps answer a backtest's decisions in batches: one pull takes several answers (TRADELANE_STEP_BATCH)
    analyses, signals, failures = BACKTESTER_CONSUMERS

    @service.on_start
    async def open_database() -> None:
        pool = await create_pool(own.database_url)
        service.resources.push_async_callback(pool.close)
        await migrate(pool)
        backtests = BacktestRepository(pool)
        market = MarketData(
            service.broker.connection, own.backtest_market_data_timeout_seconds, bars_per_request=BARS_PER_REQUEST
        )
        runner = Runner(
            backtests,
            service.bus.publish_many,
            partial(
                finish,
                backtests=backtests,
                market=market,
                book=BookReads(pool),
                charts=ChartLoader(service.bus),
                guards=Guardrails(ceilings=own.trading_ceilings),
            ),
            max_in_flight=own.backtest_max_in_flight,
            budgeted_in_flight=own.backtest_budgeted_max_in_flight,
            poll_seconds=own.backtest_poll_seconds,
        )
        creator = Creator(
            backtests=backtests,
            strategies=StrategyRepository(pool),
            prompts=PromptRepository(pool),
            market=market,
            models=ModelChoice(configured=own.llm_configured, default_model=own.llm_model, prices=dict(own.llm_prices)),
            created=runner.wake,
        )
        service.context.set_global(CREATOR, creator)
        service.context.set_global(RUNNER, runner)
        service.context.set_global(RECORDER, DecisionRecorder(backtests, runner.wake))
        service.background.start(runner.run(), "backtest-runner")

    @service.broker.subscriber(subjects.BACKTEST_CREATE, queue=subjects.BACKTEST_SERVICE_QUEUE)
    async def create(body: dict[str, Any], creator: Creating) -> BacktestReply:
        return await creator.create(body)

    @service.broker.subscriber(subjects.BACKTEST_CONTROL, queue=subjects.BACKTEST_SERVICE_QUEUE)
    async def control(body: dict[str, Any], runner: Running) -> BacktestReply:
        return await runner.control(body)

    @service.subscriber(analyses, batch=own.step_batch)
    async def record_analysis(body: dict[str, Any], recorder: Recording) -> None:
        await recorder.on_analysis(body)

    @service.subscriber(signals, batch=own.step_batch)
    async def record_signal(body: dict[str, Any], message: NatsMessage, recorder: Recording) -> None:
        await recorder.on_signal(message.raw_message.subject, body)

    @service.subscriber(failures, batch=own.step_batch)
    async def record_failure(body: dict[str, Any], recorder: Recording) -> None:
        await recorder.on_failure(body)

    return service
