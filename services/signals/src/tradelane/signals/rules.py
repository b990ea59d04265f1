"""Turns an analysis into a trade signal, enforcing the strategy's risk limits in code.

Prices become ``Decimal`` as they enter and every later step is exact decimal arithmetic.
The rules, in the order they apply:

1. Action: a bullish analysis is BUY, bearish SELL, neutral HOLD; a confidence below
   ``risk.min_confidence`` is HOLD too. A HOLD is accepted at once, with no prices.
1a. Usable numbers (:mod:`tradelane.signals.guards`): the last close and every suggested price
   must be finite (``price_not_finite``) and above 0 (``price_not_positive``).
2. Entry: ``analysis.suggested_entry``, else ``snapshot.last_close``, on the symbol's tick grid
   (nearest tick, never below one tick).
3. ATR: the first ``atr_*`` value in ``snapshot.latest`` that is positive, else Wilder's ATR(14)
   over ``snapshot.recent_bars``; without either the candidate is rejected as ``atr_unavailable``.
3a. Entry collar: an entry farther from the last close than ``min(k x ATR, fraction x last close)``
   is rejected as ``entry_collar`` (:class:`~tradelane.signals.guards.SignalGuards`).
4. Stop: ``analysis.suggested_stop`` when it is on the loss side of the entry and no farther than
   ``3 x risk.stop_atr_multiple`` ATRs; else the entry minus (BUY) or plus (SELL)
   ``risk.stop_atr_multiple`` ATRs. Rounded to the tick away from the entry, so the risk is never
   understated. A BUY stop must lie between 0 and the entry, a SELL stop above the entry; else
   the candidate is rejected as ``stop_wrong_side``.
5. Targets: the ``analysis.suggested_targets`` on the profit side, nearest first, rounded to the
   tick towards the entry (the reward is never overstated); when there are none, the entry plus
   (BUY) or minus (SELL) ``r`` times the risk for each ``r`` in ``risk.target_r_multiples``,
   rounded away from the entry so each is at least its multiple. A target that is not above the
   entry (BUY) or not between 0 and the entry (SELL) is rejected as ``target_wrong_side``.
5a. Price band: a stop or target farther from the last close than the band is rejected as ``price_band``.
6. Reward: the first target's R (its distance from the entry over the risk) below
   ``risk.min_risk_reward`` is rejected as ``min_risk_reward``; its distance as a fraction of the
   entry below ``risk.min_profit_margin`` as ``min_profit_margin``.
7. Sizing and expiry: ``suggested_quantity = floor(account_size x risk_per_trade / |entry - stop|)``,
   with ``account_size`` counted as at most ``guards.max_account_size``;
   ``expires_at = now + signal_ttl_hours``; ``risk_reward`` and ``target_r_multiples`` are the
   targets' R, rounded down to 0.01; ``reasons`` are the analysis's key factors followed by
   notes on how the rules decided; ``model`` is the analysis's.

A rejection carries the candidate signal as far as it was built, and a reason with the numbers.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal

from tradelane.contracts.events import Action, Analysis, Signal, hold_note
from tradelane.contracts.market import Bar, MarketSnapshot, decimal_of
from tradelane.contracts.strategy import RiskLimits
from tradelane.signals.guards import (
    ENTRY_COLLAR,
    PRICE_BAND,
    SignalGuards,
    outside_entry_collar,
    outside_price_band,
    shown,
    unusable_numbers,
)

ATR_PERIOD = 14
SUGGESTED_STOP_LIMIT = 3
"""A suggested stop farther than this many times the ATR stop distance is replaced by the ATR stop."""
_CENT = Decimal("0.01")


@dataclass(frozen=True)
class Accepted:
    """The signal passed every rule (a HOLD always does)."""

    signal: Signal


@dataclass(frozen=True)
class Rejected:
    """The candidate broke ``rule``; ``reason`` says how, with the numbers."""

    rule: str
    reason: str
    candidate: Signal


def decide(  # noqa: PLR0911 - one return per rule reads as the list of rules above
    analysis: Analysis,
    snapshot: MarketSnapshot,
    risk: RiskLimits,
    now: datetime,
    guards: SignalGuards = SignalGuards(),  # noqa: B008 - frozen dataclass: one shared default is safe
) -> Accepted | Rejected:
    """Apply the rules above to one analysis of one snapshot."""
    hold = Signal(
        action=Action.HOLD,
        confidence=analysis.confidence,
        symbol=snapshot.symbol,
        expires_at=now + timedelta(hours=risk.signal_ttl_hours),
        reasons=analysis.key_factors,
        model=analysis.model,
    )
    action = {"bullish": Action.BUY, "bearish": Action.SELL, "neutral": Action.HOLD}[analysis.bias]
    if action == Action.HOLD:
        return Accepted(_noted(hold, hold_note("the analysis is neutral")))
    if analysis.confidence < risk.min_confidence:
        note = hold_note(f"confidence {analysis.confidence} is below the minimum {risk.min_confidence}")
        return Accepted(_noted(hold, note))

    buy = action == Action.BUY
    unusable = unusable_numbers(analysis, snapshot.last_close)
    if unusable is not None:
        return Rejected(*unusable, hold.model_copy(update={"action": action}))
    tick = decimal_of(snapshot.symbol.min_tick)
    close = decimal_of(snapshot.last_close)
    entry = max(_on_tick(decimal_of(analysis.suggested_entry or snapshot.last_close), tick, ROUND_HALF_EVEN), tick)
    candidate = hold.model_copy(update={"action": action, "entry": entry})
    atr, atr_source = atr_of(snapshot)
    if atr is None:
        return Rejected("atr_unavailable", atr_source, candidate)
    collar = outside_entry_collar(entry, close, atr, guards)
    if collar is not None:
        return Rejected(ENTRY_COLLAR, collar, candidate)

    loss_side, profit_side = (ROUND_FLOOR, ROUND_CEILING) if buy else (ROUND_CEILING, ROUND_FLOOR)
    stop, stop_note = _stop(analysis.suggested_stop, entry, atr, risk.stop_atr_multiple, buy, tick, loss_side)
    stop_risk = abs(entry - stop)
    targets, target_note = _targets(
        analysis.suggested_targets, entry, stop_risk, risk, buy, tick, loss_side, profit_side
    )
    plan = _Plan(action, entry, stop, targets)
    multiples = tuple(plan.r_multiple(target) for target in targets)
    account = min(risk.account_size, guards.max_account_size)
    sizing_note = (
        ()
        if account == risk.account_size
        else (f"sized from the account size ceiling {account}, not the strategy's {risk.account_size}",)
    )
    candidate = candidate.model_copy(
        update={
            "stop": stop,
            "targets": targets,
            "target_r_multiples": multiples,
            "risk_reward": multiples[0],
            "suggested_quantity": _quantity(account, risk.risk_per_trade, stop_risk),
            "reasons": (*candidate.reasons, stop_note, target_note, *sizing_note),
        }
    )
    band = outside_price_band(stop, targets, close, atr, guards)
    failure = (
        _first_failure(SIDE_CHECKS, plan, risk)
        or (None if band is None else (PRICE_BAND, band))
        or _first_failure(REWARD_CHECKS, plan, risk)
    )
    if failure is not None:
        return Rejected(*failure, candidate)
    return Accepted(candidate)


@dataclass(frozen=True)
class _Plan:
    """The prices of a BUY or SELL candidate, for the checks."""

    action: Action
    entry: Decimal
    stop: Decimal
    targets: tuple[Decimal, ...]

    @property
    def buy(self) -> bool:
        return self.action == Action.BUY

    @property
    def risk(self) -> Decimal:
        return abs(self.entry - self.stop)

    def r_multiple(self, target: Decimal) -> Decimal:
        """The target's reward over the risk, rounded down to 0.01."""
        return (abs(target - self.entry) / self.risk).quantize(_CENT, rounding=ROUND_DOWN)


def _stop_on_loss_side(plan: _Plan, _: RiskLimits) -> str | None:
    if (0 < plan.stop < plan.entry) if plan.buy else (plan.stop > plan.entry):
        return None
    side = "between 0 and" if plan.buy else "above"
    return f"{plan.action} stop {plan.stop} must be {side} the entry {plan.entry}"


def _targets_on_profit_side(plan: _Plan, _: RiskLimits) -> str | None:
    wrong = [target for target in plan.targets if not (target > plan.entry if plan.buy else 0 < target < plan.entry)]
    if not wrong:
        return None
    side = "above" if plan.buy else "between 0 and"
    return f"{plan.action} targets must be {side} the entry {plan.entry}; got {_listed(wrong)}"


def _enough_reward(plan: _Plan, limits: RiskLimits) -> str | None:
    first = plan.targets[0]
    if abs(first - plan.entry) / plan.risk >= limits.min_risk_reward:
        return None
    return (
        f"the first target {first} is {plan.r_multiple(first)}R from the entry {plan.entry} "
        f"(risk {plan.risk} to the stop {plan.stop}), below the minimum {limits.min_risk_reward}R"
    )


def _enough_margin(plan: _Plan, limits: RiskLimits) -> str | None:
    first = plan.targets[0]
    margin = abs(first - plan.entry) / plan.entry
    if margin >= limits.min_profit_margin:
        return None
    return (
        f"the first target {first} is {_percent(margin)} from the entry {plan.entry}, "
        f"below the minimum profit margin {_percent(limits.min_profit_margin)}"
    )


Check = tuple[str, Callable[[_Plan, RiskLimits], str | None]]
SIDE_CHECKS: tuple[Check, ...] = (
    ("stop_wrong_side", _stop_on_loss_side),
    ("target_wrong_side", _targets_on_profit_side),
)
REWARD_CHECKS: tuple[Check, ...] = (
    ("min_risk_reward", _enough_reward),
    ("min_profit_margin", _enough_margin),
)
CHECKS: tuple[Check, ...] = (*SIDE_CHECKS, *REWARD_CHECKS)
"""The rejection rules on a priced plan, in the order they are checked (the price band between the two groups);
each returns the reason it fails, or None."""


def _first_failure(checks: Sequence[Check], plan: _Plan, risk: RiskLimits) -> tuple[str, str] | None:
    for rule, check in checks:
        reason = check(plan, risk)
        if reason is not None:
            return rule, reason
    return None


def _stop(
    suggested: float | None,
    entry: Decimal,
    atr: Decimal,
    multiple: Decimal,
    buy: bool,
    tick: Decimal,
    away_from_entry: str,
) -> tuple[Decimal, str]:
    """The stop price and a note on where it came from."""
    distance = multiple * atr
    if suggested is not None:
        stop = _on_tick(decimal_of(suggested), tick, away_from_entry)
        on_loss_side = stop < entry if buy else stop > entry
        if on_loss_side and abs(entry - stop) <= SUGGESTED_STOP_LIMIT * distance:
            return stop, f"stop {stop} as the analysis suggested"
    stop = _on_tick(entry - distance if buy else entry + distance, tick, away_from_entry)
    why = "" if suggested is None else f" (suggested {suggested} was on the wrong side or too far)"
    return stop, f"stop {stop} at {multiple} x ATR {shown(atr)} from the entry{why}"


def _targets(
    suggested: Sequence[float],
    entry: Decimal,
    stop_risk: Decimal,
    limits: RiskLimits,
    buy: bool,
    tick: Decimal,
    towards_entry: str,
    away_from_entry: str,
) -> tuple[tuple[Decimal, ...], str]:
    """The targets, nearest first, and a note on where they came from."""
    levels = sorted({_on_tick(decimal_of(level), tick, towards_entry) for level in suggested}, reverse=not buy)
    on_profit_side = tuple(level for level in levels if (level > entry if buy else level < entry))
    if on_profit_side:
        return on_profit_side, f"targets {_listed(on_profit_side)} as the analysis suggested"
    sign = 1 if buy else -1
    targets = tuple(_on_tick(entry + sign * r * stop_risk, tick, away_from_entry) for r in limits.target_r_multiples)
    multiples = ", ".join(f"{r}R" for r in limits.target_r_multiples)
    return targets, f"targets {_listed(targets)} at {multiples}"


def atr_of(snapshot: MarketSnapshot) -> tuple[Decimal | None, str]:
    """The ATR and where it came from, or None and why there is none."""
    for key, value in snapshot.latest.items():
        if key.startswith("atr_") and value is not None and math.isfinite(value) and value > 0:
            return decimal_of(value), key
    atr = wilder_atr(snapshot.recent_bars, ATR_PERIOD)
    if atr is not None and atr.is_finite() and atr > 0:
        return atr, f"Wilder ATR({ATR_PERIOD}) of the recent bars"
    bars = len(snapshot.recent_bars)
    why = "are flat" if atr is not None else f"are too few for ATR({ATR_PERIOD}), which needs {ATR_PERIOD + 1}"
    return None, f"no positive atr_* value in the snapshot, and the {bars} recent bars {why}"


def wilder_atr(bars: Sequence[Bar], period: int = ATR_PERIOD) -> Decimal | None:
    """Wilder's Average True Range of the bars at the last bar, as TA-Lib computes it.

    The first value is the mean true range of bars 1..period (each against the previous close),
    then each bar smooths it: ``atr = (atr * (period - 1) + true_range) / period``.
    None with fewer than ``period + 1`` bars.
    """
    if len(bars) < period + 1:
        return None
    true_ranges = [
        max(high, previous_close) - min(low, previous_close)
        for previous_close, high, low in (
            (decimal_of(previous.close), decimal_of(bar.high), decimal_of(bar.low))
            for previous, bar in itertools.pairwise(bars)
        )
    ]
    atr = sum(true_ranges[:period], Decimal(0)) / period
    for true_range in true_ranges[period:]:
        atr = (atr * (period - 1) + true_range) / period
    return atr


def _quantity(account_size: Decimal, risk_per_trade: Decimal, stop_risk: Decimal) -> int | None:
    if stop_risk <= 0:
        return None
    return int((account_size * risk_per_trade / stop_risk).to_integral_value(rounding=ROUND_FLOOR))


def _noted(signal: Signal, note: str) -> Signal:
    return signal.model_copy(update={"reasons": (*signal.reasons, note)})


def _on_tick(value: Decimal, tick: Decimal, rounding: str) -> Decimal:
    """``value`` as a whole number of ticks, written with the tick's decimals (``150.00``)."""
    return ((value / tick).to_integral_value(rounding=rounding) * tick).quantize(tick)


def _listed(values: Sequence[Decimal]) -> str:
    return ", ".join(str(value) for value in values)


def _percent(fraction: Decimal) -> str:
    return f"{(100 * fraction).quantize(Decimal('0.01'), rounding=ROUND_DOWN)} %"
