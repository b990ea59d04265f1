"""Bars on request: what happened to an instrument between two times, answered by market-data over NATS.

The signals ledger asks for the bars that followed a signal to judge it; the backtester resolves a
strategy's instrument and asks for the bars of a backtest's period to plan its decisions. The requests
go to the configured provider (simulated, or IB with its pacing), like the bars of an execution.
"""

from __future__ import annotations

from typing import Self

from pydantic import AwareDatetime, Field, model_validator

from tradelane.contracts.envelope import Contract
from tradelane.contracts.market import Bar, ResolvedSymbol
from tradelane.contracts.strategy import MAX_BARS, BarSize, SymbolRef, WhatToShow
from tradelane.contracts.symbols import SymbolServiceError


class BarsRequest(Contract):
    """The bars of ``symbol`` at ``bar_size`` starting at or after ``start`` and before ``end``."""

    symbol: ResolvedSymbol
    bar_size: BarSize
    start: AwareDatetime
    end: AwareDatetime
    use_rth: bool = Field(default=True, description="Regular trading hours only (IB useRTH).")
    what_to_show: WhatToShow = "TRADES"

    @model_validator(mode="after")
    def _window_is_bounded(self) -> Self:
        if self.end <= self.start:
            msg = f"end {self.end.isoformat()} must come after start {self.start.isoformat()}"
            raise ValueError(msg)
        bars = (self.end - self.start).total_seconds() / self.bar_size.seconds
        if bars > MAX_BARS:
            msg = f"the window holds about {bars:.0f} bars of {self.bar_size.value}; ask for at most {MAX_BARS} at once"
            raise ValueError(msg)
        return self


class BarsReply(Contract):
    """The bars asked for, oldest first (the one in progress included), or why there are none."""

    bars: tuple[Bar, ...] = ()
    error: SymbolServiceError | None = None


class ResolveRequest(Contract):
    """The instrument a strategy's symbol names, resolved as the pipeline's market-data step resolves it."""

    symbol: SymbolRef


class ResolveReply(Contract):
    """The resolved instrument, or why there is none."""

    symbol: ResolvedSymbol | None = None
    error: SymbolServiceError | None = None
