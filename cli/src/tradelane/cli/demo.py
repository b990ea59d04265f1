"""The demo strategy created on first start, so a new user sees executions at once."""

from __future__ import annotations

from decimal import Decimal

from tradelane.contracts.strategy import AssetType, BarSize, RiskLimits, Schedule, StrategyDefinition, SymbolRef

DEMO_STRATEGY = StrategyDefinition(
    name="demo-btc-1min",
    description=(
        "Demo: simulated BTC 1-minute bars, the default indicator set, the offline analyst (or the "
        "configured LLM), run every minute and paper-traded. Crypto trades around the clock, so each "
        "run sees a fresh bar; loose risk limits make a paper signal, order, fill and position likely "
        "within the first few runs."
    ),
    symbol=SymbolRef(symbol="BTC", exchange="PAXOS", currency="USD", asset_type=AssetType.CRYPTO),
    bar_size=BarSize.MIN_1,
    duration="1 D",
    schedule=Schedule(cron="* * * * *", timezone="UTC"),
    risk=RiskLimits(min_profit_margin=Decimal("0.001"), min_risk_reward=Decimal("1.0")),
    auto_trade=True,
)
