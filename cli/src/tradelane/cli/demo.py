"""The demo strategy created on first start, so a new user sees executions at once."""

from __future__ import annotations

from tradelane.contracts.strategy import AssetType, BarSize, Schedule, StrategyDefinition, SymbolRef

DEMO_STRATEGY = StrategyDefinition(
    name="demo-btc-5min",
    description=(
        "Demo: simulated BTC 5-minute bars, the default indicator set, the offline analyst, "
        "run every minute. Crypto trades around the clock, so each run sees fresh bars."
    ),
    symbol=SymbolRef(symbol="BTC", exchange="PAXOS", currency="USD", asset_type=AssetType.CRYPTO),
    bar_size=BarSize.MIN_5,
    duration="3 D",
    schedule=Schedule(cron="* * * * *", timezone="UTC"),
)
