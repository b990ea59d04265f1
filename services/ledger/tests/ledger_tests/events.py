"""Signal events as the signal step publishes them, for the ledger's tests."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from uuid import UUID, uuid4

from tradelane.contracts.envelope import utc_now
from tradelane.contracts.events import Action, Analysis, Signal, SignalGenerated, SignalProvenance, SignalRejected
from tradelane.contracts.market import ResolvedSymbol
from tradelane.contracts.strategy import AssetType, BarSize, StrategyDefinition, SymbolRef
from tradelane.contracts.trading import Fill, OrderFilled, OrderRole, OrderSide, OrderTicket, OrderType, Venue

BTC = ResolvedSymbol(conid=479624278, symbol="BTC", exchange="PAXOS", currency="USD", asset_type=AssetType.CRYPTO)
STRATEGY = StrategyDefinition(
    name="btc-1min",
    symbol=SymbolRef(symbol="BTC", exchange="PAXOS", asset_type=AssetType.CRYPTO),
    bar_size=BarSize.MIN_1,
    duration="1 D",
)
TEMPLATE_ID = UUID("6f1d3c2a-0b7e-4c55-9a11-2f0e8d1c4b3a")
ANALYSIS = Analysis(bias="bullish", trend="uptrend", confidence=72, model="vision-1")


def provenance(at: datetime) -> SignalProvenance:
    return SignalProvenance(
        analyst="llm",
        model="vision-1",
        llm_provider="api.example.com",
        prompt_template_id=TEMPLATE_ID,
        prompt_name="swing",
        prompt_version=3,
        chart_sha256="c" * 64,
        tokens_in=1200,
        tokens_out=240,
        cost=Decimal("0.0031"),
        reference_price=Decimal(100),
        reference_bar_time=at - timedelta(minutes=1),
        bar_size=BarSize.MIN_1,
        atr=Decimal("0.5"),
    )


def signal(action: Action = Action.BUY, *, at: datetime) -> Signal:
    """A BUY at 100 with its stop at 99 and targets at 102 and 103 (2R, 3R); a SELL mirrored; a HOLD without prices."""
    sign = {Action.BUY: 1, Action.SELL: -1, Action.HOLD: 0}[action]
    priced = sign != 0
    return Signal(
        action=action,
        confidence=72,
        symbol=BTC,
        entry=Decimal(100) if priced else None,
        stop=Decimal(100 - sign) if priced else None,
        targets=(Decimal(100 + 2 * sign), Decimal(100 + 3 * sign)) if priced else (),
        risk_reward=Decimal(2) if priced else None,
        target_r_multiples=(Decimal(2), Decimal(3)) if priced else (),
        suggested_quantity=1000 if priced else None,
        expires_at=at + timedelta(hours=1),
        model="vision-1",
    )


def signal_generated(
    action: Action = Action.BUY,
    *,
    at: datetime | None = None,
    strategy_id: UUID | None = None,
    strategy: StrategyDefinition = STRATEGY,
    with_provenance: bool = True,
) -> SignalGenerated:
    at = at or utc_now()
    return SignalGenerated(
        execution_id=uuid4(),
        strategy_id=strategy_id or uuid4(),
        occurred_at=at,
        strategy=strategy,
        signal=signal(action, at=at),
        analysis=ANALYSIS,
        provenance=provenance(at) if with_provenance else None,
    )


def signal_rejected(*, at: datetime | None = None) -> SignalRejected:
    at = at or utc_now()
    return SignalRejected(
        execution_id=uuid4(),
        strategy_id=uuid4(),
        occurred_at=at,
        strategy=STRATEGY,
        rule="min_risk_reward",
        reason="R 0.8 is below 1.5",
        candidate=signal(Action.SELL, at=at),
        analysis=ANALYSIS,
        provenance=provenance(at),
    )


def order_filled(
    signal: SignalGenerated, role: OrderRole, *, quantity: Decimal, price: Decimal, at: datetime
) -> OrderFilled:
    """The broker's fill of one order of the bracket ``signal`` placed (BUY entry, SELL exits)."""
    ref = f"tl-s-{signal.message_id.hex[:8]}" + ("" if role is OrderRole.ENTRY else f"-{role.value}")
    ticket = OrderTicket(
        client_ref=ref,
        instrument=BTC,
        side=OrderSide.BUY if role is OrderRole.ENTRY else OrderSide.SELL,
        order_type=OrderType.MARKET,
        quantity=quantity,
        role=role,
    )
    return OrderFilled(
        execution_id=signal.execution_id,
        strategy_id=signal.strategy_id,
        occurred_at=at,
        client_ref=ref,
        signal_id=signal.message_id,
        order=ticket,
        venue=Venue.PAPER,
        fill=Fill(exec_id=f"{ref}-x", quantity=quantity, price=price, commission=Decimal(1), filled_at=at),
        filled_quantity=quantity,
        average_price=price,
    )
