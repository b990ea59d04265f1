"""Guardrails on a model's numbers: they are untrusted input, bounded before they can become a signal.

A model (or anything that writes an ``Analysis``) may answer with any number: a negative price,
or a price that has nothing to do with the market (an entry of 1.00 for BTC trading near
61,000). The contracts already refuse NaN and infinities; ``price_not_finite`` is the second line
for a reading built without validation. These rules bound every number against the last close
before the signal rules price anything:

``price_not_finite``    a suggested entry, stop or target is NaN or infinite (or the last close is)
``price_not_positive``  a suggested entry, stop or target (or the last close) is zero or negative
``entry_collar``        the entry lies farther from the last close than the collar:
                        ``min(entry_collar_atr x ATR, entry_collar_fraction x last close)``
``price_band``          the stop or a target lies farther from the last close than the band:
                        ``min(price_band_atr x ATR, price_band_fraction x last close)``

Both distances take the tighter of an ATR multiple and a fraction of the price: the ATR follows
the instrument's own volatility at the strategy's bar size, and the fraction caps it when the
ATR itself is implausible (a data error, or a crash bar), so neither alone can open the collar.
The quantity a signal suggests is sized from at most ``max_account_size``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from tradelane.contracts.events import Analysis

PRICE_NOT_FINITE = "price_not_finite"
PRICE_NOT_POSITIVE = "price_not_positive"
ENTRY_COLLAR = "entry_collar"
PRICE_BAND = "price_band"


@dataclass(frozen=True)
class SignalGuards:
    """How far from the last close a signal's prices may lie (see the module docstring); defaults are the settings'."""

    entry_collar_atr: Decimal = Decimal(3)
    entry_collar_fraction: Decimal = Decimal("0.10")
    price_band_atr: Decimal = Decimal(30)
    price_band_fraction: Decimal = Decimal("0.50")
    max_account_size: Decimal = Decimal(1_000_000)

    def entry_collar(self, close: Decimal, atr: Decimal) -> Decimal:
        """The largest distance of the entry from the last close."""
        return min(self.entry_collar_atr * atr, self.entry_collar_fraction * close)

    def price_band(self, close: Decimal, atr: Decimal) -> Decimal:
        """The largest distance of the stop and of each target from the last close."""
        return min(self.price_band_atr * atr, self.price_band_fraction * close)


def unusable_numbers(analysis: Analysis, last_close: float) -> tuple[str, str] | None:
    """The rule and reason when a price the signal would be built from is not a usable number; else None."""
    named: list[tuple[str, float]] = [("last close", last_close)]
    if analysis.suggested_entry is not None:
        named.append(("suggested entry", analysis.suggested_entry))
    if analysis.suggested_stop is not None:
        named.append(("suggested stop", analysis.suggested_stop))
    named.extend(_numbered("suggested target", analysis.suggested_targets))
    not_finite = [f"{name} {value}" for name, value in named if not math.isfinite(value)]
    if not_finite:
        return PRICE_NOT_FINITE, f"prices must be finite numbers; got {', '.join(not_finite)}"
    not_positive = [f"{name} {value}" for name, value in named if value <= 0]
    if not_positive:
        return PRICE_NOT_POSITIVE, f"prices must be above 0; got {', '.join(not_positive)}"
    return None


def _numbered(name: str, values: Iterable[float]) -> list[tuple[str, float]]:
    listed = list(values)
    if len(listed) == 1:
        return [(name, listed[0])]
    return [(f"{name} {index}", value) for index, value in enumerate(listed, start=1)]


def outside_entry_collar(entry: Decimal, close: Decimal, atr: Decimal, guards: SignalGuards) -> str | None:
    """Why the entry is too far from the last close, or None."""
    collar = guards.entry_collar(close, atr)
    distance = abs(entry - close)
    if distance <= collar:
        return None
    return (
        f"the entry {entry} is {shown(distance)} from the last close {close}, beyond the entry collar "
        f"{shown(collar)} = min({guards.entry_collar_atr} x ATR {shown(atr)}, "
        f"{guards.entry_collar_fraction} x last close)"
    )


def outside_price_band(
    stop: Decimal, targets: Iterable[Decimal], close: Decimal, atr: Decimal, guards: SignalGuards
) -> str | None:
    """Why the stop or a target is too far from the last close, or None."""
    band = guards.price_band(close, atr)
    far = [f"stop {stop}"] if abs(stop - close) > band else []
    far += [f"target {target}" for target in targets if abs(target - close) > band]
    if not far:
        return None
    verb = "lies" if len(far) == 1 else "lie"
    return (
        f"{', '.join(far)} {verb} farther from the last close {close} than the price band {shown(band)} = "
        f"min({guards.price_band_atr} x ATR {shown(atr)}, {guards.price_band_fraction} x last close)"
    )


def shown(value: Decimal) -> str:
    """``value`` for a reason: four decimals at most, in plain notation (``6000``, never ``6E+3``)."""
    return f"{value.quantize(Decimal('0.0001'), rounding=ROUND_HALF_EVEN).normalize():f}"
