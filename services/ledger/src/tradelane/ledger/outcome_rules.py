"""The outcome rules: what became of a signal, from the bars that followed it or from its fills (pure).

A BUY or SELL that was not traded is judged as if entered at its entry price when it was made
(its *shadow* outcome). Its window opens with the first bar after the bar it was made on and
lasts as long as the signal's life (its expiry minus its time), so a replayed signal is judged on
the bars that followed its original bar. Only complete bars count, oldest first; in each:

1. A gap through the stop (a BUY's bar opening at or below the stop, a SELL's at or above) exits
   at the open, below the stop: the order could not fill at the stop.
2. A gap through the first target exits at the open too (a take-profit fills at the better price).
3. A bar that touches both the stop and the first target counts as the **stop**: within one bar
   there is no telling which came first, and the stop is the cautious answer.
4. Otherwise a bar touching the stop exits at the stop, one touching the first target at the target.
5. When the window has passed (one bar after it, so its last bar is complete) with neither
   touched, the signal **expired**: it is marked at the last close in its window (no exit price
   and no R when its window held no bar at all).

The maximum favourable and adverse excursions (MFE, MAE) are in R and never negative; the exit bar
counts up to its open and its exit price only (the rest of it may have come after the exit).

A HOLD is judged when its window has passed: it was right (**flat**) when the last close in the
window is within ``k x ATR x sqrt(bars)`` of the close it was made at, and it missed a move
(**moved**) otherwise. A random walk's move grows with the square root of time, so the threshold
does too; with ``k`` = 0.5 a random walk stays within it about half the time. A HOLD made without
an ATR cannot be judged.

A traded signal is judged from its bracket's fills once its exits have closed all it entered:
the exit is the average exit price, at the last exit fill; R is measured from the average entry
fill against the risk actually taken (from that fill to the signal's stop); P&L is the move times
the quantity, net of every fill's commission.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Final

from tradelane.contracts.events import Action
from tradelane.contracts.outcomes import R_PLACES, OutcomeKind, is_hit, realised_r, trade_pnl

DEFAULT_HOLD_ATR_MULTIPLE: Final = Decimal("0.5")


@dataclass(frozen=True)
class PriceBar:
    """One bar's prices as decimals; ``time`` is its start."""

    time: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal


@dataclass(frozen=True)
class Window:
    """The bars a signal is judged on: those starting at or after ``start`` and before ``end``, of ``bar`` each."""

    start: datetime
    end: datetime
    bar: timedelta

    def complete(self, bars: Sequence[PriceBar], now: datetime) -> list[PriceBar]:
        """The bars of the window that have closed by ``now``, oldest first."""
        return sorted(
            (b for b in bars if self.start <= b.time < self.end and b.time + self.bar <= now), key=lambda b: b.time
        )

    def passed(self, now: datetime) -> bool:
        """Whether every bar of the window has closed: one bar after its end."""
        return now >= self.end + self.bar


@dataclass(frozen=True)
class TradePlan:
    """A BUY or SELL: where it enters, where it stops, and its first target."""

    action: Action
    entry: Decimal
    stop: Decimal
    target: Decimal

    @property
    def direction(self) -> int:
        return 1 if self.action is Action.BUY else -1

    def r_of(self, price: Decimal) -> Decimal:
        return realised_r(self.action, self.entry, self.stop, price)

    def favourable(self, bar: PriceBar) -> Decimal:
        return bar.high if self.action is Action.BUY else bar.low

    def adverse(self, bar: PriceBar) -> Decimal:
        return bar.low if self.action is Action.BUY else bar.high

    def beyond(self, price: Decimal, level: Decimal) -> bool:
        """Whether ``price`` is at or past ``level`` in the signal's favour."""
        return self.direction * (price - level) >= 0


@dataclass(frozen=True)
class Judgement:
    """A signal's outcome as the rules decide it."""

    kind: OutcomeKind
    hit: bool | None
    """Whether the signal was right; None when nothing says (an expiry without a bar)."""
    exit_price: Decimal | None = None
    exit_at: datetime | None = None
    r_multiple: Decimal | None = None
    mfe_r: Decimal | None = None
    mae_r: Decimal | None = None
    bars: int = 0
    """Complete bars of the window looked at."""
    pnl: Decimal | None = None
    fees: Decimal | None = None
    quantity: Decimal | None = None
    note: str = ""


@dataclass
class _Excursions:
    plan: TradePlan
    best: Decimal = Decimal(0)
    worst: Decimal = Decimal(0)

    def see(self, *prices: Decimal) -> None:
        for price in prices:
            r = self.plan.r_of(price)
            self.best, self.worst = max(self.best, r), min(self.worst, r)


def _exit_in(plan: TradePlan, bar: PriceBar) -> tuple[OutcomeKind, Decimal, str] | None:
    """Rules 1-4: whether ``bar`` ends the trade, and how and at what price."""
    if plan.beyond(plan.stop, bar.open):
        return OutcomeKind.STOP, bar.open, "gapped through the stop: exit at the open"
    if plan.beyond(bar.open, plan.target):
        return OutcomeKind.TARGET, bar.open, "gapped through the target: exit at the open"
    stopped = plan.beyond(plan.stop, plan.adverse(bar))
    reached = plan.beyond(plan.favourable(bar), plan.target)
    if stopped:
        return OutcomeKind.STOP, plan.stop, "one bar touched both: counted as the stop" if reached else "stop first"
    if reached:
        return OutcomeKind.TARGET, plan.target, "target first"
    return None


def judge_trade(plan: TradePlan, bars: Sequence[PriceBar], window: Window, now: datetime) -> Judgement | None:
    """The shadow outcome of ``plan`` from ``bars`` (rules 1-5 above), or None while it is still open."""
    seen = _Excursions(plan)
    complete = window.complete(bars, now)
    for count, bar in enumerate(complete, start=1):
        ended = _exit_in(plan, bar)
        if ended is not None:
            kind, price, note = ended
            seen.see(bar.open, price)
            r = plan.r_of(price)
            return Judgement(
                kind=kind,
                hit=is_hit(r),
                exit_price=price,
                exit_at=bar.time,
                r_multiple=r,
                mfe_r=seen.best,
                mae_r=-seen.worst,
                bars=count,
                note=note,
            )
        seen.see(plan.favourable(bar), plan.adverse(bar))
    if not window.passed(now):
        return None
    if not complete:
        return Judgement(kind=OutcomeKind.EXPIRED, hit=None, note="expired with no bar in its window")
    last = complete[-1]
    r = plan.r_of(last.close)
    return Judgement(
        kind=OutcomeKind.EXPIRED,
        hit=is_hit(r),
        exit_price=last.close,
        exit_at=last.time,
        r_multiple=r,
        mfe_r=seen.best,
        mae_r=-seen.worst,
        bars=len(complete),
        note="neither stop nor target before it expired: marked at the last close",
    )


def judge_hold(
    reference_price: Decimal,
    atr: Decimal,
    bars: Sequence[PriceBar],
    window: Window,
    now: datetime,
    multiple: Decimal = DEFAULT_HOLD_ATR_MULTIPLE,
) -> Judgement | None:
    """The directional outcome of a HOLD made at ``reference_price`` with ``atr``, or None before its window passed."""
    if not window.passed(now):
        return None
    complete = window.complete(bars, now)
    if not complete:
        return Judgement(kind=OutcomeKind.EXPIRED, hit=None, note="expired with no bar in its window")
    last = complete[-1]
    threshold = multiple * atr * Decimal(len(complete)).sqrt()
    move = last.close - reference_price
    moved = abs(move) > threshold
    direction = "up" if move > 0 else "down"
    return Judgement(
        kind=OutcomeKind.MOVED if moved else OutcomeKind.FLAT,
        hit=not moved,
        exit_price=last.close,
        exit_at=last.time,
        bars=len(complete),
        note=(
            f"moved {direction} {abs(move)} against a threshold of {threshold.quantize(R_PLACES)}"
            f" ({multiple} ATR x sqrt({len(complete)} bars))"
        ),
    )


@dataclass(frozen=True)
class TradeFill:
    """One fill of an order of a signal's bracket."""

    entry: bool
    """A fill of the entry order (else of a stop-loss or take-profit child)."""
    kind: OutcomeKind | None
    """What an exit fill means: STOP for the stop-loss child, TARGET for the take-profit; None for the entry."""
    quantity: Decimal
    price: Decimal
    commission: Decimal
    filled_at: datetime


_PRICE_PLACES: Final = Decimal("1e-10")
"""An average fill price is kept to ten decimals, the most a price has."""


def _average(fills: Sequence[TradeFill]) -> tuple[Decimal, Decimal]:
    quantity = sum((fill.quantity for fill in fills), Decimal(0))
    total = sum((fill.quantity * fill.price for fill in fills), Decimal(0))
    return quantity, (total / quantity).quantize(_PRICE_PLACES).normalize()


def judge_fills(plan: TradePlan, fills: Sequence[TradeFill], *, entry_done: bool) -> Judgement | None:
    """The traded outcome of ``plan`` from its bracket's fills, or None while the trade is open.

    ``entry_done``: the entry order can fill no more (filled, cancelled or rejected).
    """
    entries = [fill for fill in fills if fill.entry]
    exits = sorted((fill for fill in fills if not fill.entry), key=lambda fill: fill.filled_at)
    if not entries or not exits or not entry_done:
        return None
    entered, entry_price = _average(entries)
    left, exit_price = _average(exits)
    if left < entered:
        return None
    kinds = {fill.kind for fill in exits}
    kind = kinds.pop() if len(kinds) == 1 and None not in kinds else OutcomeKind.CLOSED
    assert kind is not None
    fees = sum((fill.commission for fill in fills), Decimal(0))
    r = realised_r(plan.action, entry_price, plan.stop, exit_price)
    return Judgement(
        kind=kind,
        hit=is_hit(r),
        exit_price=exit_price,
        exit_at=exits[-1].filled_at,
        r_multiple=r,
        pnl=trade_pnl(plan.action, entry_price, exit_price, left, fees),
        fees=fees,
        quantity=entered,
        note=f"entered {entered} at {entry_price.normalize()}, left at {exit_price.normalize()}",
    )
