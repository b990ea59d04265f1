"""Running backtests: each running backtest's decisions published as executions, a bounded number at a time.

The runner looks at every running backtest when it is woken (a decision answered, a backtest
created or resumed) and every ``poll_seconds`` besides, so after a restart it takes up the backtests
that were running where they were. For each it:

1. stops it, when its model cost so far has reached its budget (the decisions in flight still finish);
2. finishes it (:func:`tradelane.backtester.finish.finish`), when every decision is done or failed;
3. else publishes its next pending decisions, oldest first, until ``max_in_flight`` are in flight
   (``budgeted_in_flight``, when fewer, for a backtest with a budget: those in flight when it is reached
   still run and pay, so that bounds how far past its budget a backtest spends).

A look reads where the backtest stands (:class:`~tradelane.store.backtests.RunState`) without going
over all its decisions: a look comes with each answer (an analysis, a signal), so one that summed
every decision would make a run's cost grow with the square of its decisions.

A decision is published before it is marked published: a crash in between publishes it again, and
JetStream drops the repeat (its message id is derived from the decision). Stop and resume (``tradelane
.backtest.control``) change the status the runner reads: a stopped backtest publishes nothing more,
and a resumed one goes on with the decisions still pending.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Final
from uuid import UUID

import nats.errors
import structlog
from pydantic import ValidationError

from tradelane.backtester.creation import STORAGE_ERRORS
from tradelane.backtester.variants import decision_request
from tradelane.contracts.backtest import BacktestControl, BacktestReply
from tradelane.contracts.strategy import StrategyDefinition
from tradelane.runtime.bus import EncodedEvent, encode_event
from tradelane.runtime.market_data import MarketDataUnavailableError
from tradelane.store.backtests import BacktestRepository

log = structlog.get_logger(__name__)

PublishMany = Callable[[Sequence[EncodedEvent]], Awaitable[list[Exception | None]]]
Finish = Callable[[UUID], Awaitable[None]]

STOPPED_BY_USER: Final = "stopped by the user"
_TRANSIENT = (*STORAGE_ERRORS, nats.errors.Error, MarketDataUnavailableError)
"""Failures that pass: the runner tries again at its next look."""


def budget_spent(budget: Decimal | None, cost: Decimal | None) -> Decimal | None:
    """The budget a backtest's model cost has reached, or None (no budget, or not reached; nothing spent is never)."""
    return budget if budget is not None and cost is not None and cost > 0 and cost >= budget else None


class Runner:
    """Publishes the decisions of the running backtests and finishes them (see the module docstring)."""

    def __init__(
        self,
        backtests: BacktestRepository,
        publish_many: PublishMany,
        finish: Finish,
        *,
        max_in_flight: int,
        budgeted_in_flight: int,
        poll_seconds: float,
    ) -> None:
        self._backtests = backtests
        self._publish_many = publish_many
        self._finish = finish
        self._max_in_flight = max_in_flight
        self._budgeted_in_flight = min(budgeted_in_flight, max_in_flight)
        self._poll_seconds = poll_seconds
        self._woken = asyncio.Event()
        self._definitions: dict[UUID, dict[str, StrategyDefinition]] = {}
        self._finished: set[UUID] = set()

    def wake(self) -> None:
        """Look at the running backtests now (a decision was answered, a backtest created or resumed)."""
        self._woken.set()

    async def run(self) -> None:
        """Advance the running backtests whenever woken, and every ``poll_seconds``, until cancelled.

        A cancel that a library's ``wait_for`` swallowed (CPython gh-86296, see :mod:`tradelane.runtime.background`)
        still counts as asked for: the loop ends at its next turn.
        """
        task = asyncio.current_task()
        while task is None or not task.cancelling():
            self._woken.clear()
            try:
                await self.advance_all()
            except _TRANSIENT as error:
                log.warning("backtests_not_advanced", error=f"{type(error).__name__}: {error}")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._poll_seconds):
                    await self._woken.wait()

    async def advance_all(self) -> None:
        """One look at every running backtest."""
        for backtest_id in await self._backtests.active():
            await self.advance(backtest_id)

    async def advance(self, backtest_id: UUID) -> None:
        """Stop, finish, or publish the next decisions of one backtest (see the module docstring)."""
        state = await self._backtests.run_state(backtest_id)
        if state is None or state.status != "running":
            return
        if state.all_answered:
            if not await self._backtests.analyses_pending(backtest_id):
                await self._finished_run(backtest_id)
            return
        budget = budget_spent(state.budget_usd, state.cost_usd)
        if budget is not None:
            await self._stop_at_budget(backtest_id, budget)
            return
        room = (self._max_in_flight if state.budget_usd is None else self._budgeted_in_flight) - state.in_flight
        if room <= 0:
            return
        waiting = await self._backtests.waiting(backtest_id, room)
        if not waiting:
            return
        definitions = await self._definitions_of(backtest_id)
        events = [
            encode_event(
                decision_request(
                    backtest_id,
                    state.strategy_id,
                    decision.variant,
                    decision.seq,
                    decision.decided_at,
                    definitions[decision.variant],
                )
            )
            for decision in waiting
        ]
        failures = await self._publish_many(events)
        published = [decision.execution_id for decision, failure in zip(waiting, failures, strict=True) if not failure]
        await self._backtests.mark_published(published)
        if len(published) < len(waiting):
            log.warning(
                "backtest_decisions_not_published",
                backtest_id=str(backtest_id),
                published=len(published),
                failed=len(waiting) - len(published),
                error=next(str(failure) for failure in failures if failure),
            )

    async def control(self, body: Mapping[str, Any]) -> BacktestReply:
        """Stop a running backtest, or resume a stopped one (a :class:`BacktestControl` as JSON)."""
        try:
            control = BacktestControl.model_validate(body)
        except ValidationError as error:
            return BacktestReply(outcome="invalid", reason=str(error.errors()[0]["msg"]))
        try:
            return await self._control(control)
        except STORAGE_ERRORS as error:
            log.warning("backtest_not_controlled", error=f"{type(error).__name__}: {error}")
            return BacktestReply(
                outcome="unavailable", backtest_id=control.backtest_id, reason="the database is unavailable; try again"
            )

    async def _control(self, control: BacktestControl) -> BacktestReply:
        backtest_id = control.backtest_id
        summary = await self._backtests.summary(backtest_id)
        if summary is None:
            return BacktestReply(
                outcome="not_found", backtest_id=backtest_id, reason=f"there is no backtest {backtest_id}"
            )
        if summary.status in ("completed", "failed"):
            return BacktestReply(
                outcome="invalid",
                backtest_id=backtest_id,
                reason=f"backtest {backtest_id} has {summary.status}: there is nothing to {control.action}",
            )
        if control.action == "stop":
            if summary.status != "stopped":
                await self._backtests.set_status(backtest_id, "stopped", STOPPED_BY_USER)
                log.info("backtest_stopped", backtest_id=str(backtest_id), reason=STOPPED_BY_USER)
            return BacktestReply(outcome="stopped", backtest_id=backtest_id)
        budget = budget_spent(summary.request.budget_usd, summary.progress.cost_usd)
        if budget is not None:
            return BacktestReply(
                outcome="invalid",
                backtest_id=backtest_id,
                reason=f"its budget of ${budget} is spent: start a new backtest with a larger budget",
            )
        if summary.status == "stopped":
            await self._backtests.set_status(backtest_id, "running")
            log.info("backtest_resumed", backtest_id=str(backtest_id))
        self.wake()
        return BacktestReply(outcome="resumed", backtest_id=backtest_id)

    async def _stop_at_budget(self, backtest_id: UUID, budget: Decimal) -> None:
        """Stop a backtest whose model cost reached its budget, saying after how many answered decisions."""
        answered = await self._backtests.decisions_answered(backtest_id)
        reason = f"budget of ${budget} reached after {answered} decisions"
        await self._backtests.set_status(backtest_id, "stopped", reason)
        log.info("backtest_stopped", backtest_id=str(backtest_id), reason=reason)

    async def _definitions_of(self, backtest_id: UUID) -> dict[str, StrategyDefinition]:
        """Each variant's strategy definition, read once per backtest."""
        known = self._definitions.get(backtest_id)
        if known is None:
            stored = await self._backtests.strategies(backtest_id) or {}
            known = {variant: StrategyDefinition.model_validate(body) for variant, body in stored.items()}
            self._definitions[backtest_id] = known
        return known

    async def _finished_run(self, backtest_id: UUID) -> None:
        """Make the result of a backtest whose decisions are all answered (once per process)."""
        if backtest_id in self._finished:
            return
        self._definitions.pop(backtest_id, None)
        try:
            await self._finish(backtest_id)
        except _TRANSIENT:
            raise
        except Exception as error:  # a result that cannot be made is the backtest's failure, with the reason
            reason = f"its result could not be made: {type(error).__name__}: {error}"
            await self._backtests.set_status(backtest_id, "failed", reason)
            log.error("backtest_failed", backtest_id=str(backtest_id), reason=reason)
        self._finished.add(backtest_id)
