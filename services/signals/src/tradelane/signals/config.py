"""Settings of the signals service: the shared ones plus the collars a model's prices must fall within."""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field

from tradelane.runtime.settings import Settings
from tradelane.signals.guards import SignalGuards


class SignalsSettings(Settings):
    """``TRADELANE_SIGNAL_*`` on top of the shared settings (see :mod:`tradelane.signals.guards`)."""

    signal_entry_collar_atr: Decimal = Field(
        default=Decimal(3), gt=0, le=100, description="Entry collar: most ATRs the entry may lie from the last close."
    )
    signal_entry_collar_fraction: Decimal = Field(
        default=Decimal("0.10"),
        gt=0,
        le=1,
        description="Entry collar: most distance of the entry from the last close, as a fraction of it "
        "(the tighter of the two applies).",
    )
    signal_price_band_atr: Decimal = Field(
        default=Decimal(30), gt=0, le=1000, description="Price band: most ATRs a stop or target may lie from the close."
    )
    signal_price_band_fraction: Decimal = Field(
        default=Decimal("0.50"),
        gt=0,
        le=1,
        description="Price band: most distance of a stop or target from the last close, as a fraction of it.",
    )

    @property
    def guards(self) -> SignalGuards:
        """The guardrails these settings ask for, with the shared ceiling on the equity a quantity is sized from."""
        return SignalGuards(
            entry_collar_atr=self.signal_entry_collar_atr,
            entry_collar_fraction=self.signal_entry_collar_fraction,
            price_band_atr=self.signal_price_band_atr,
            price_band_fraction=self.signal_price_band_fraction,
            max_account_size=self.trading_ceilings.max_sizing_equity,
        )
