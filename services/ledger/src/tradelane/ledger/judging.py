"""From ledger rows to the outcome rules and back: a signal's plan and window, its fills, its outcome event (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Final

from tradelane.contracts.events import Action
from tradelane.contracts.market import Bar, decimal_of
from tradelane.contracts.outcomes import AutomaticSource, OutcomeKind, OutcomeRecorded, outcome_message_id
from tradelane.contracts.strategy import BarSize
from tradelane.contracts.trading import OrderRole
from tradelane.ledger.outcome_rules import Judgement, PriceBar, TradeFill, TradePlan, Window
from tradelane.store.ledger import LedgerSignal, SignalTrade

_EXIT_KIND: Final = {OrderRole.STOP_LOSS.value: OutcomeKind.STOP, OrderRole.TAKE_PROFIT.value: OutcomeKind.TARGET}


def window_of(signal: LedgerSignal) -> Window | None:
    """The bars ``signal`` is judged on: from the bar after its own, for as long as it lived; None without its bar."""
    if signal.reference_bar_time is None:
        return None
    bar = timedelta(seconds=BarSize(signal.bar_size).seconds)
    start = signal.reference_bar_time + bar
    return Window(start=start, end=start + (signal.expires_at - signal.occurred_at), bar=bar)


def plan_of(signal: LedgerSignal) -> TradePlan | None:
    """The entry, stop and first target of a BUY or SELL; None for a HOLD or a signal without them."""
    action = Action(signal.action)
    if action is Action.HOLD or signal.entry is None or signal.stop is None or signal.first_target is None:
        return None
    return TradePlan(action, signal.entry, signal.stop, signal.first_target)


def first_check_at(signal: LedgerSignal) -> datetime | None:
    """When to look for ``signal``'s shadow outcome first; None when it can get none.

    A BUY or SELL once its first bar is complete; a HOLD once its window has passed (it is judged
    only then). A rejected candidate gets none; nor does a signal without its bar, a BUY or SELL
    without its prices, or a HOLD without an ATR.
    """
    window = window_of(signal)
    if signal.status != "generated" or window is None:
        return None
    if signal.action == Action.HOLD.value:
        return window.end + window.bar if signal.atr is not None else None
    return window.start + window.bar if plan_of(signal) is not None else None


def price_bars(bars: Sequence[Bar]) -> list[PriceBar]:
    """Bars as decimals, for the rules."""
    return [
        PriceBar(bar.time, decimal_of(bar.open), decimal_of(bar.high), decimal_of(bar.low), decimal_of(bar.close))
        for bar in bars
    ]


def trade_fills(trade: SignalTrade) -> list[TradeFill]:
    """The fills of a signal's orders, for :func:`~tradelane.ledger.outcome_rules.judge_fills`."""
    return [
        TradeFill(
            entry=fill.role == OrderRole.ENTRY.value,
            kind=_EXIT_KIND.get(fill.role),
            quantity=fill.quantity,
            price=fill.price,
            commission=fill.commission,
            filled_at=fill.filled_at,
        )
        for fill in trade.fills
    ]


def outcome_event(
    signal: LedgerSignal, source: AutomaticSource, judgement: Judgement, now: datetime
) -> OutcomeRecorded:
    """The event of ``signal``'s automatic outcome: of its execution, caused by it, with an id only it can have."""

    def rounded(value: Decimal | None) -> Decimal | None:
        return None if value is None else value.normalize()

    return OutcomeRecorded(
        message_id=outcome_message_id(signal.signal_id, source),
        execution_id=signal.execution_id,
        strategy_id=signal.strategy_id,
        replay_of=signal.replay_of,
        causation_id=signal.signal_id,
        occurred_at=now,
        signal_id=signal.signal_id,
        source=source,
        kind=judgement.kind,
        hit=judgement.hit,
        exit_price=rounded(judgement.exit_price),
        exit_at=judgement.exit_at,
        r_multiple=rounded(judgement.r_multiple),
        mfe_r=rounded(judgement.mfe_r),
        mae_r=rounded(judgement.mae_r),
        pnl=rounded(judgement.pnl),
        fees=rounded(judgement.fees),
        quantity=rounded(judgement.quantity),
        bars=judgement.bars,
        note=judgement.note,
    )
