"""The backtester's side of a test: a fake answering its requests on the real bus, and backtests stored as it does.

The backtester is a service of its own. Tests of what talks to it (the gateway, the CLI) answer its
request subjects with :class:`FakeBacktester`, a boundary fake on a real NATS server, and write its
rows through :class:`~tradelane.store.backtests.BacktestRepository`, as the backtester does:
``await store_run(repository, request)`` plans a run of three decisions per variant (``base`` and
``offline``), ``await answer_decisions(...)`` fills in what the pipeline answered, and
``await complete(...)`` stores a result and its report.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from decimal import Decimal
from typing import Any, Final
from uuid import UUID, uuid4

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from tradelane.contracts import subjects
from tradelane.contracts.backtest import (
    OFFLINE_VARIANT,
    BacktestControl,
    BacktestEstimate,
    BacktestMetrics,
    BacktestReply,
    BacktestRequest,
    BacktestResult,
    MetricDifference,
    VariantResult,
)
from tradelane.contracts.strategy import Schedule, StrategyDefinition
from tradelane.runtime.bus_flush import flush_queued
from tradelane.store.backtests import BacktestRepository, NewRun, PlannedDecision

REPORT: Final = "<!doctype html><html><head><title>report</title></head><body><h1>Backtest report</h1></body></html>"


def estimate_of(
    request: BacktestRequest, decisions: int = 3, cost: Decimal | None = Decimal("0.03")
) -> BacktestEstimate:
    """What the fake says a request will cost: ``decisions`` per variant, one model call each."""
    names = [variant.label() for variant in request.variants] or ["base"]
    return BacktestEstimate(
        decisions=decisions,
        variants=(*names, OFFLINE_VARIANT),
        model_calls=decisions * len(names),
        cached_decisions=0,
        cost_usd=cost,
        first_decision_at=request.start,
        last_decision_at=request.start + timedelta(hours=decisions - 1),
    )


async def store_run(
    repository: BacktestRepository,
    request: BacktestRequest,
    *,
    strategy_name: str = "demo",
    decisions: int = 3,
    schedule: Schedule | None = None,
    definition: StrategyDefinition | None = None,
) -> UUID:
    """A run planned as the backtester plans one: ``decisions`` per variant, an hour apart from ``start``; each
    variant's stored definition is ``definition`` (one the backtester can publish), else it holds only
    ``schedule`` (nothing without one)."""
    estimate = estimate_of(request, decisions)
    stored: dict[str, Any] = {}
    if definition is not None:
        stored = definition.model_dump(mode="json")
    elif schedule is not None:
        stored = {"schedule": schedule.model_dump(mode="json")}
    run = NewRun(
        id=uuid4(),
        name=request.name or f"{strategy_name} {request.start:%Y-%m-%d}",
        strategy_id=request.strategy_id,
        strategy_name=strategy_name,
        request=request,
        strategies=dict.fromkeys(estimate.variants, stored),
        estimate=estimate,
    )
    planned = [
        PlannedDecision(
            variant=variant,
            seq=seq,
            decided_at=request.start + timedelta(hours=seq),
            execution_id=uuid4(),
            fingerprint=f"{variant}-{seq}-{uuid4().hex}",
        )
        for variant in estimate.variants
        for seq in range(decisions)
    ]
    await repository.create(run, planned)
    return run.id


async def answer_decisions(repository: BacktestRepository, backtest_id: UUID, count: int = 1000) -> None:
    """The first ``count`` waiting decisions answered as the pipeline would: a model call each (a cache hit for
    the offline analyst), then a HOLD."""
    for decision in await repository.waiting(backtest_id, count):
        offline = decision.variant == OFFLINE_VARIANT
        await repository.record_analysis(
            decision.execution_id, Decimal(0) if offline else Decimal("0.01"), int(offline), int(not offline)
        )
        await repository.record_signal(
            decision.execution_id, action="HOLD", bias="neutral", confidence=55, rejected_rule=None, signal={}
        )


def _metrics(total_return: float, cost: Decimal | None) -> BacktestMetrics:
    return BacktestMetrics(
        total_return=total_return,
        annual_return=total_return * 12,
        sharpe=1.25,
        sortino=1.5,
        max_drawdown=0.04,
        calmar=3.0,
        hit_rate=0.5,
        profit_factor=1.4,
        exposure=0.3,
        trades=4,
        directional_accuracy=0.6,
        fees=Decimal("3.2"),
        model_cost=cost,
    )


def sample_result(variants: tuple[str, ...] = ("base",), *, compared: bool = False) -> BacktestResult:
    """A result: each of ``variants`` returned 5 % (then 7 %, ...), the offline analyst 2 %, buy-and-hold 3 %."""
    results = [
        VariantResult(variant=name, metrics=_metrics(0.05 + 0.02 * index, Decimal("0.03")), trades=(), equity=())
        for index, name in enumerate(variants)
    ]
    results.append(VariantResult(variant=OFFLINE_VARIANT, metrics=_metrics(0.02, Decimal(0)), trades=(), equity=()))
    comparison = (
        (
            MetricDifference(metric="total_return", first=0.05, second=0.07, difference=0.02, low=-0.01, high=0.05),
            MetricDifference(metric="sharpe", first=1.0, second=1.6, difference=0.6, low=0.1, high=1.1),
        )
        if compared
        else ()
    )
    return BacktestResult(variants=tuple(results), buy_and_hold=_metrics(0.03, None), comparison=comparison)


async def complete(repository: BacktestRepository, backtest_id: UUID, result: BacktestResult | None = None) -> None:
    """Every decision answered, and the result stored with :data:`REPORT`, as a run ends."""
    await answer_decisions(repository, backtest_id)
    summary = await repository.summary(backtest_id)
    assert summary is not None
    labels = tuple(variant.label() for variant in summary.request.variants) or ("base",)
    await repository.store_result(backtest_id, result or sample_result(labels, compared=len(labels) == 2), REPORT)


CreateAnswer = Callable[[BacktestRequest], Awaitable[BacktestReply]]
ControlAnswer = Callable[[BacktestControl], Awaitable[BacktestReply]]


class FakeBacktester:
    """Answers ``tradelane.backtest.create`` and ``.control`` on a real NATS, and keeps what it was asked.

    By default a create with ``estimate_only`` is ``estimated``, any other is stored (:func:`store_run`)
    and ``created``; a stop sets the run ``stopped`` and a resume ``running``. A test changes an answer by
    setting :attr:`on_create` or :attr:`on_control`.
    """

    def __init__(self, client: NatsClient, repository: BacktestRepository) -> None:
        self.client = client
        self.repository = repository
        self.creates: list[BacktestRequest] = []
        self.controls: list[BacktestControl] = []
        self.on_create: CreateAnswer = self.plan
        self.on_control: ControlAnswer = self.control
        self._subscriptions: list[Subscription] = []

    async def plan(self, request: BacktestRequest) -> BacktestReply:
        if request.estimate_only:
            return BacktestReply(outcome="estimated", estimate=estimate_of(request))
        backtest_id = await store_run(self.repository, request)
        return BacktestReply(outcome="created", backtest_id=backtest_id, estimate=estimate_of(request))

    async def control(self, control: BacktestControl) -> BacktestReply:
        stopping = control.action == "stop"
        await self.repository.set_status(control.backtest_id, "stopped" if stopping else "running")
        return BacktestReply(outcome="stopped" if stopping else "resumed", backtest_id=control.backtest_id)

    async def _on_create(self, message: Msg) -> None:
        request = BacktestRequest.model_validate_json(message.data)
        self.creates.append(request)
        await message.respond((await self.on_create(request)).model_dump_json().encode())

    async def _on_control(self, message: Msg) -> None:
        control = BacktestControl.model_validate_json(message.data)
        self.controls.append(control)
        await message.respond((await self.on_control(control)).model_dump_json().encode())

    async def start(self) -> None:
        queue = subjects.BACKTEST_SERVICE_QUEUE
        self._subscriptions = [
            await self.client.subscribe(subjects.BACKTEST_CREATE, queue=queue, cb=self._on_create),
            await self.client.subscribe(subjects.BACKTEST_CONTROL, queue=queue, cb=self._on_control),
        ]
        await flush_queued(self.client)

    async def stop(self) -> None:
        for subscription in self._subscriptions:
            await subscription.unsubscribe()


def replying(reply: BacktestReply) -> Callable[[object], Awaitable[BacktestReply]]:
    """An answer that is always ``reply``."""

    async def answer(_: object) -> BacktestReply:
        return reply

    return answer


@asynccontextmanager
async def fake_backtester(client: NatsClient, repository: BacktestRepository) -> AsyncIterator[FakeBacktester]:
    """A stand-in backtester answering on the bus until the block ends."""
    fake = FakeBacktester(client, repository)
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()
