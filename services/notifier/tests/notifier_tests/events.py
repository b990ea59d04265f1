"""Events the notifier hears about, as the signals step and the broker publish them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import uuid4

from tradelane.contracts.book import RiskRecord, TradingStateChange
from tradelane.contracts.envelope import utc_now
from tradelane.contracts.events import Action, Analysis, Signal, SignalGenerated, StepFailed
from tradelane.contracts.llm_budget import LlmBudgetCrossed, budget_crossing_id
from tradelane.contracts.market import ResolvedSymbol
from tradelane.contracts.strategy import AssetType, StrategyDefinition, SymbolRef
from tradelane.contracts.trading import (
    Fill,
    OrderFilled,
    OrderSide,
    OrderTicket,
    OrderType,
    TradingLimits,
    TradingState,
    TradingStateChanged,
    Venue,
)

AAPL = ResolvedSymbol(conid=265598, symbol="AAPL", exchange="NASDAQ", currency="USD", asset_type=AssetType.STOCK)
STRATEGY = StrategyDefinition(name="AAPL daily", symbol=SymbolRef(symbol="AAPL"))
TICKET = OrderTicket(
    client_ref="tl-s-1", instrument=AAPL, side=OrderSide.BUY, order_type=OrderType.LIMIT, quantity=Decimal(10),
    limit_price=Decimal("190.5"),
)  # fmt: skip


def signal_generated(action: Action = Action.BUY, *, at: datetime | None = None) -> SignalGenerated:
    at = at or utc_now()
    return SignalGenerated(
        execution_id=uuid4(),
        strategy_id=uuid4(),
        occurred_at=at,
        strategy=STRATEGY,
        signal=Signal(
            action=action,
            confidence=72,
            symbol=AAPL,
            entry=Decimal("190.5") if action is not Action.HOLD else None,
            stop=Decimal(185) if action is not Action.HOLD else None,
            targets=(Decimal(199), Decimal(210)) if action is not Action.HOLD else (),
            risk_reward=Decimal("1.55") if action is not Action.HOLD else None,
            expires_at=datetime(2026, 12, 6, 16, tzinfo=UTC),
            model="offline-rules-v1",
        ),
        analysis=Analysis(bias="bullish", trend="uptrend", confidence=72, model="offline-rules-v1"),
    )


def order_filled(*, at: datetime | None = None) -> OrderFilled:
    at = at or utc_now()
    return OrderFilled(
        execution_id=uuid4(),
        strategy_id=uuid4(),
        occurred_at=at,
        client_ref=TICKET.client_ref,
        signal_id=uuid4(),
        order=TICKET,
        venue=Venue.PAPER,
        fill=Fill(exec_id="e-1", quantity=Decimal(10), price=Decimal("190.4"), commission=Decimal(1), filled_at=at),
        filled_quantity=Decimal(10),
        average_price=Decimal("190.4"),
    )


def step_failed(*, at: datetime | None = None) -> StepFailed:
    return StepFailed(
        execution_id=uuid4(),
        strategy_id=uuid4(),
        occurred_at=at or utc_now(),
        step="market_data",
        kind="permanent",
        error="no such symbol: ZZZZ",
        input_subject="pipeline.execution.requested",
        deliveries=1,
    )


def hours_ago(hours: float) -> datetime:
    return utc_now() - timedelta(hours=hours)


def trading_state_changed(
    state: TradingState, *, previous: TradingState = TradingState.ACTIVE, by: str = "api", reason: str = "kill switch"
) -> TradingStateChanged:
    """A change of the trading state as the broker or the gateway publishes it (change number picked at random)."""
    risk = RiskRecord(state=state, reason=reason, changed_by=by, changed_at=utc_now(), limits=TradingLimits())
    return TradingStateChange(risk=risk, previous_state=previous, change=uuid4().int % 1_000_000).event()


def llm_budget_crossed(threshold_percent: int, *, spent: str = "8.1234") -> LlmBudgetCrossed:
    day = utc_now().date()
    return LlmBudgetCrossed(
        message_id=budget_crossing_id(day, threshold_percent),
        execution_id=uuid4(),
        strategy_id=uuid4(),
        day=day,
        threshold_percent=threshold_percent,
        budget=Decimal(10),
        spent=Decimal(spent),
        model="gpt-4o",
    )
