"""Finding outcomes: shadow ones from the bars that followed untraded signals, traded ones from the broker's fills.

An outcome is published as ``OutcomeRecorded`` (``pipeline.outcome.recorded``) and written when the
ledger's own consumer of that subject hears it (:meth:`OutcomeJudge.on_outcome`), so one path writes
every outcome, the manual ones included, and an event heard twice is written once.

- **Shadow**: every ``ledger_outcome_interval_seconds`` the signals whose look is due (not traded,
  no automatic outcome yet) are judged on the bars market-data sends; one still open is looked at
  again after the interval or one bar, whichever is longer. While market-data cannot answer, the
  signal waits for the next round; bars it refuses (an unknown instrument) put it off for a day.
- **Traded**: each order event of a signal's bracket is recorded (the order's status, its fill);
  once the exits have closed what the entry filled, the trade is judged from its fills.

Nothing of a backtest (``backtest`` set on the envelope) is recorded: its signals, orders and outcomes
would mix simulated past decisions into the live record.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Final
from uuid import UUID

import structlog

from tradelane.contracts import subjects
from tradelane.contracts.envelope import utc_now
from tradelane.contracts.events import Action
from tradelane.contracts.market import ResolvedSymbol
from tradelane.contracts.outcomes import OutcomeRecorded
from tradelane.contracts.strategy import BarSize
from tradelane.contracts.trading import (
    OrderAccepted,
    OrderCancelled,
    OrderEvent,
    OrderFilled,
    OrderPartiallyFilled,
    OrderRejected,
    OrderRole,
    OrderStatus,
    OrderSubmitted,
)
from tradelane.ledger.judging import outcome_event, plan_of, price_bars, trade_fills, window_of
from tradelane.ledger.outcome_rules import Judgement, judge_fills, judge_hold, judge_trade
from tradelane.runtime.bus import EventBus
from tradelane.runtime.errors import PermanentStepError, TransientStepError
from tradelane.runtime.market_data import MarketData, MarketDataRefusedError, MarketDataUnavailableError
from tradelane.store.ledger import LedgerFill, LedgerOutcome, LedgerRepository, LedgerSignal

log = structlog.get_logger(__name__)

REFUSED_DELAY: Final = timedelta(days=1)
"""How long a signal whose bars market-data refused waits before it is asked about again."""
_STATUS_OF_EVENT: Final[dict[type[OrderEvent], OrderStatus]] = {
    OrderSubmitted: OrderStatus.PENDING_SUBMIT,
    OrderAccepted: OrderStatus.ACCEPTED,
    OrderPartiallyFilled: OrderStatus.PARTIALLY_FILLED,
    OrderFilled: OrderStatus.FILLED,
    OrderCancelled: OrderStatus.CANCELLED,
    OrderRejected: OrderStatus.REJECTED,
}


class OutcomeJudge:
    """Judges the signals in the ledger and publishes their outcomes."""

    def __init__(
        self,
        ledger: LedgerRepository,
        bus: EventBus,
        bars: MarketData,
        *,
        interval: timedelta,
        batch: int,
        hold_atr_multiple: Decimal,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._ledger = ledger
        self._bus = bus
        self._bars = bars
        self._interval = interval
        self._batch = batch
        self._hold_atr_multiple = hold_atr_multiple
        self._clock = clock

    # Shadow outcomes -------------------------------------------------------------------------

    async def judge_due(self) -> int:
        """Look at the signals whose shadow outcome is due; returns how many outcomes were published."""
        now = self._clock()
        published = 0
        for signal in await self._ledger.due_for_shadow_outcome(now, self._batch):
            try:
                judgement = await self._shadow(signal, now)
            except MarketDataUnavailableError as error:
                log.warning("outcome_bars_unavailable", signal_id=str(signal.signal_id), error=str(error))
                await self._ledger.check_again_at(signal.signal_id, now + self._interval)
                continue
            except MarketDataRefusedError as error:
                log.warning("outcome_bars_refused", signal_id=str(signal.signal_id), error=str(error))
                await self._ledger.check_again_at(signal.signal_id, now + REFUSED_DELAY)
                continue
            if judgement is None:
                bar = timedelta(seconds=BarSize(signal.bar_size).seconds)
                await self._ledger.check_again_at(signal.signal_id, now + max(self._interval, bar))
                continue
            await self._bus.publish(outcome_event(signal, "shadow", judgement, now))
            await self._ledger.check_again_at(signal.signal_id, None)
            published += 1
        return published

    async def _shadow(self, signal: LedgerSignal, now: datetime) -> Judgement | None:
        window = window_of(signal)
        if window is None:
            return None
        bars = price_bars(
            await self._bars.between(
                ResolvedSymbol.model_validate(signal.signal["symbol"]),
                BarSize(signal.bar_size),
                window.start,
                min(window.end, now),
                use_rth=signal.use_rth,
                what_to_show=signal.what_to_show,
            )
        )
        plan = plan_of(signal)
        if plan is not None:
            return judge_trade(plan, bars, window, now)
        if signal.action == Action.HOLD.value and signal.reference_price is not None and signal.atr is not None:
            return judge_hold(signal.reference_price, signal.atr, bars, window, now, self._hold_atr_multiple)
        return None

    # Traded outcomes -------------------------------------------------------------------------

    async def on_order_event(self, subject: str, body: dict[str, Any]) -> None:
        """Record an order event of a signal's bracket; publish the traded outcome once the trade is closed.

        A backtest's order event is not recorded (nor is its signal).
        """
        contract = subjects.event_type_for(subject)
        if contract not in _STATUS_OF_EVENT:
            msg = f"{subject!r} carries no order event the ledger knows"
            raise PermanentStepError(msg)
        event = contract.model_validate(body)
        assert isinstance(event, OrderEvent)
        if event.signal_id is None or event.backtest is not None:
            return  # a manual order: no signal to judge; a backtest's: not live performance
        role = event.order.role.value
        status = _STATUS_OF_EVENT[type(event)]
        await self._ledger.record_order(event.client_ref, event.signal_id, role, status.value)
        if isinstance(event, OrderFilled | OrderPartiallyFilled):
            fill = event.fill
            await self._ledger.record_fill(
                LedgerFill(
                    exec_id=fill.exec_id,
                    client_ref=event.client_ref,
                    signal_id=event.signal_id,
                    role=role,
                    quantity=fill.quantity,
                    price=fill.price,
                    commission=fill.commission,
                    filled_at=fill.filled_at,
                )
            )
            if event.order.role is OrderRole.ENTRY:
                # traded: its outcome will come from its fills, so it needs no look at the bars any more
                await self._ledger.check_again_at(event.signal_id, None)
        await self._judge_trade(event.signal_id)

    async def _judge_trade(self, signal_id: UUID) -> None:
        trade = await self._ledger.trade_of(signal_id)
        if not trade.fills:
            return
        signal = await self._ledger.signal(signal_id)
        if signal is None:
            # the ledger's signal consumer has not recorded it yet: this event comes back once it has
            msg = f"signal {signal_id} is not in the ledger yet"
            raise TransientStepError(msg)
        plan = plan_of(signal)
        if plan is None:
            return
        judgement = judge_fills(plan, trade_fills(trade), entry_done=trade.entry_done)
        if judgement is not None:
            await self._bus.publish(outcome_event(signal, "traded", judgement, self._clock()))

    # Every outcome -----------------------------------------------------------------------------

    async def on_outcome(self, event: OutcomeRecorded) -> None:
        """Write an outcome heard on the bus (an automatic one once; a manual one replaced by a newer one).

        A backtest's outcome is not written: the ledger keeps live performance only.
        """
        if event.backtest is not None:
            return
        written = await self._ledger.record_outcome(LedgerOutcome.of(event))
        log.info(
            "outcome_recorded" if written else "outcome_already_recorded",
            signal_id=str(event.signal_id),
            source=event.source,
            kind=event.kind.value,
            r=str(event.r_multiple) if event.r_multiple is not None else None,
        )
