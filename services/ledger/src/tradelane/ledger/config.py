"""Settings of the ledger: the shared ones plus how often and how it looks for outcomes (``TRADELANE_LEDGER_*``)."""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field

from tradelane.ledger.outcome_rules import DEFAULT_HOLD_ATR_MULTIPLE
from tradelane.runtime.settings import Settings


class LedgerSettings(Settings):
    """``TRADELANE_LEDGER_*`` on top of the shared settings."""

    ledger_outcome_interval_seconds: float = Field(
        default=30,
        gt=0,
        le=3600,
        description="How often the ledger looks for the shadow outcomes that are due; a signal still open is looked "
        "at again after this or one bar, whichever is longer.",
    )
    ledger_outcome_batch: int = Field(
        default=20, ge=1, le=1000, description="Most signals looked at per round (each asks market-data for bars)."
    )
    ledger_bars_timeout_seconds: float = Field(
        default=60,
        gt=0,
        le=600,
        description="How long one bars request to market-data may take (IB's pacing can hold it back).",
    )
    ledger_hold_atr_multiple: Decimal = Field(
        default=DEFAULT_HOLD_ATR_MULTIPLE,
        gt=0,
        le=100,
        description="A HOLD was right when price ends within this many ATRs times the square root of its bars.",
    )
