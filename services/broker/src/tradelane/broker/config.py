"""Settings of the broker service: the venue, the trading mode (and its confirmation), paper costs, IB."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import Field

from tradelane.contracts.trading import TimeInForce, TradingMode, Venue
from tradelane.runtime.settings import Settings
from tradelane.trading.risk import DEFAULT_PRICE_COLLAR, Guardrails

LIVE_CONFIRMATION = "yes"


class LiveTradingNotConfirmedError(RuntimeError):
    """The settings ask for something unsafe (live trading without both switches); the broker will not start."""


class BrokerSettings(Settings):
    """``TRADELANE_BROKER_*``, ``TRADELANE_PAPER_*``, ``TRADELANE_TRADING_MODE`` and the IB connection."""

    broker_venue: Venue = Field(
        default=Venue.PAPER,
        description="Where orders go: 'paper' (the built-in simulator, the default) or 'ib' (TWS / IB Gateway).",
    )
    trading_mode: TradingMode = Field(
        default="paper",
        description="'live' trades a real IB account; it also needs TRADELANE_LIVE_TRADING_CONFIRM=yes.",
    )
    live_trading_confirm: str = Field(default="", description="Must be 'yes' for TRADELANE_TRADING_MODE=live.")
    paper_cash: Decimal = Field(default=Decimal(100_000), gt=0, description="Starting cash of the paper account.")
    paper_slippage_bps: Decimal = Field(default=Decimal(2), ge=0, description="Paper market/stop fill slippage.")
    paper_commission_rate: Decimal = Field(
        default=Decimal("0.0002"), ge=0, description="Paper commission as a fraction of the fill's value."
    )
    paper_commission_minimum: Decimal = Field(default=Decimal(1), ge=0, description="Least paper commission per fill.")
    broker_entry_order_type: Literal["MKT", "LMT"] = Field(
        default="LMT", description="A signal's entry: LMT at the signal's entry price, or MKT."
    )
    broker_entry_tif: TimeInForce = Field(default=TimeInForce.DAY, description="Time in force of a signal's entry.")
    broker_trade_replays: bool = Field(
        default=False, description="Paper-trade the signals of replayed executions (never on IB)."
    )
    broker_price_collar: Decimal = Field(
        default=DEFAULT_PRICE_COLLAR,
        gt=0,
        le=1,
        description="Refuse an order whose limit or stop price lies farther than this fraction from the mark "
        "(0.05 = 5 %).",
    )
    broker_snapshot_interval_seconds: float = Field(default=300, gt=0, description="Scheduled portfolio snapshots.")
    broker_housekeeping_seconds: float = Field(
        default=15, gt=0, description="How often DAY orders are expired, the daily loss watched, the outbox flushed."
    )
    ib_host: str = Field(default="127.0.0.1", description="Host of TWS or IB Gateway.")
    ib_port: int = Field(
        default=4002, ge=1, le=65535, description="IB Gateway 4002 paper / 4001 live, TWS 7497 / 7496."
    )
    broker_ib_client_id: int = Field(
        default=12, ge=0, description="The broker's API client id (market-data uses another one)."
    )
    ib_account: str | None = Field(default=None, description="Account to trade; None: the only one managed.")
    ib_timeout: float = Field(default=10, gt=0, description="Seconds to wait for the connection and contract data.")
    broker_cancel_timeout_seconds: float = Field(
        default=5, gt=0, description="How long a cancel waits for IB's confirmation before answering 'pending_cancel'."
    )

    @property
    def guards(self) -> Guardrails:
        """The price collar and the hard ceilings (shared with the gateway) the risk engine enforces."""
        return Guardrails(price_collar=self.broker_price_collar, ceilings=self.trading_ceilings)

    def trading_mode_problem(self) -> str | None:
        """Why these settings must not trade (None: they may)."""
        if self.trading_mode != "live":
            return None
        if self.broker_venue is not Venue.IB:
            return "TRADELANE_TRADING_MODE=live needs TRADELANE_BROKER_VENUE=ib: the paper venue never trades live"
        if self.live_trading_confirm.strip().lower() != LIVE_CONFIRMATION:
            return (
                "TRADELANE_TRADING_MODE=live trades real money and also needs TRADELANE_LIVE_TRADING_CONFIRM=yes; "
                "the broker will not start without both"
            )
        return None
