"""Settings of the market-data service."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from tradelane.runtime.settings import Settings


class MarketDataSettings(Settings):
    """The provider, the IB connection, the pacing limits and the symbol cache."""

    market_data_provider: Literal["simulated", "ib"] = Field(
        default="simulated",
        description="Where bars and contracts come from: the built-in simulated market, or IB (TWS / IB Gateway).",
    )
    ib_host: str = Field(default="127.0.0.1", description="Host of TWS or IB Gateway.")
    ib_port: int = Field(
        default=4002, ge=1, le=65535, description="API port: IB Gateway 4002 paper / 4001 live, TWS 7497 / 7496."
    )
    ib_client_id: int = Field(default=11, ge=0, description="API client id; unique per connection to one TWS.")
    ib_account: str | None = Field(default=None, description="Account to report on; None: the only one managed.")
    ib_timeout: float = Field(default=10, gt=0, description="Seconds to wait for the connection and for contract data.")
    ib_historical_timeout: float = Field(default=60, gt=0, description="Seconds to wait for one historical request.")
    ib_reconnect_initial_seconds: float = Field(default=1, gt=0, description="First wait before reconnecting.")
    ib_reconnect_max_seconds: float = Field(default=60, gt=0, description="Longest wait between reconnects.")
    ib_historical_requests: int = Field(default=60, ge=1, description="Historical requests allowed per window.")
    ib_historical_window_seconds: float = Field(default=600, gt=0, description="IB counts 60 requests per 10 minutes.")
    ib_identical_request_gap_seconds: float = Field(
        default=15, ge=0, description="Least time between two identical historical requests."
    )
    ib_max_in_flight: int = Field(default=50, ge=1, description="Requests awaiting an answer at once.")
    ib_messages_per_second: int = Field(default=50, ge=1, description="Requests sent per second.")
    ib_pacing_violation_pause_seconds: float = Field(
        default=15, ge=0, description="Pause of historical requests after IB reports a pacing violation."
    )
    ib_max_pacing_wait_seconds: float = Field(
        default=30,
        gt=0,
        description="Longest a step waits for pacing; a longer wait naks the message with that delay instead.",
    )
    symbol_cache_ttl_days: float = Field(default=7, gt=0, description="Age after which a cached symbol is stale.")
