"""What the trading rules' tests share: two instruments and paper costs of zero."""

from __future__ import annotations

from decimal import Decimal

from tradelane.contracts.market import ResolvedSymbol
from tradelane.contracts.strategy import AssetType
from tradelane.trading.paper import PaperCosts

BTC = ResolvedSymbol(
    conid=910_012, symbol="BTC", exchange="PAXOS", currency="USD", asset_type=AssetType.CRYPTO, min_tick=0.01
)
AAPL = ResolvedSymbol(
    conid=910_001, symbol="AAPL", exchange="NASDAQ", currency="USD", asset_type=AssetType.STOCK, min_tick=0.01
)
NO_COSTS = PaperCosts(slippage_bps=Decimal(0), commission_rate=Decimal(0), commission_minimum=Decimal(0))
