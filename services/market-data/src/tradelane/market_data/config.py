"""Settings of the market-data service."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from tradelane.runtime.settings import Settings


class MarketDataSettings(Settings):
    market_data_provider: Literal["simulated"] = Field(
        default="simulated",
        description="Where bars come from. 'simulated' only, until the IBKR provider lands (issue 3).",
    )
