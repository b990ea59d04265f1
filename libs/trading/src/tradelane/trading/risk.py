"""The risk engine: sizes an order group, then checks it against every rule before it is placed.

Rules, in the order they apply (each refusal names its rule and gives the numbers):

``no_market_price``       the limits need a price: a market order on an instrument with no known price, or
                          any order on an instrument without a mark (the collar needs one)
``price_collar``          the entry's limit or stop price lies farther from the mark than the collar
                          (``price_collar`` of :class:`Guardrails`, a fraction of the mark)
``signal_expired``        the signal's ``expires_at`` has passed (e.g. it was redelivered after an outage)
``trading_halted``        the trading state is HALTED: nothing but cancels
``duplicate_signal``      the strategy already has a working order or an open bracket on this
                          instrument in this direction (from an earlier signal)
``trading_hours``         the exchange is closed now (see :mod:`tradelane.trading.calendar`), or the
                          table has no calendar for it
(sizing)                  a signal's quantity; when nothing is left, the refusal names the cap that
                          left nothing, or ``risk_per_trade`` when one unit already risks more than the budget
``trading_reducing``      the state is REDUCING and the order does not only reduce a position
``max_order_quantity``    the order is larger than the limit
``max_order_notional``    the order is worth more than the ceiling (hard, from the settings)
``bracket_prices``        a bracket's take-profit or stop-loss lies on the wrong side of the entry
``min_risk_reward``       reward to the take-profit over risk to the stop is below the minimum
``risk_per_trade``        ``quantity x |entry - stop|`` exceeds ``risk_per_trade`` of equity
``daily_loss_limit``      equity has fallen by the limit since the start of the UTC day
``max_position_notional`` the position after the order would be worth more than the limit
``max_open_positions``    the order would open one instrument more than the limit
``max_gross_exposure``    positions plus working entries plus this order would exceed the limit

An order that only reduces a position skips the exposure rules (daily loss, notional, open
positions, gross exposure, risk per trade): cutting risk is always allowed unless trading is
HALTED or the exchange is closed. What it reduces is the position **net of the working orders on
the same side** (``Exposure.pending``): against a short of 0.31 with a BUY of 0.31 already
working, a second BUY of 0.31 reduces nothing and meets every exposure rule. The position and
notional rules, and the sizing, look at that projected position too.

Prices are checked at their worst: notional (position, order, gross exposure) at the higher of
the order's price and the mark, and the risk to the stop from whichever of the two lies farther
from it. The limits are those stored in the book, each lowered to its hard ceiling
(:class:`~tradelane.contracts.ceilings.TradingCeilings`), and equity counts as at most the
ceiling ``max_sizing_equity``.

A signal's quantity is ``floor(equity x risk fraction / |entry - stop|)`` (see
:mod:`tradelane.trading.sizing`), capped by what the notional, exposure and quantity limits
still allow; when a cap leaves nothing, the refusal names that cap's rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from zoneinfo import ZoneInfo

from tradelane.contracts.ceilings import TradingCeilings
from tradelane.contracts.trading import OrderSide, TradingLimits, TradingState
from tradelane.trading.calendar import calendar_for
from tradelane.trading.orders import GroupPlan
from tradelane.trading.position_accounting import reduces
from tradelane.trading.sizing import Cap, quantity_step, size_from_risk

DEFAULT_PRICE_COLLAR = Decimal("0.05")
"""5 %: wider than any regular move between two bars the broker sees (it marks on every execution's
bars), far narrower than a price taken from the wrong instrument, a wrong decimal or a model's
invention, and close to the bands exchanges put on limit orders themselves."""


class Rule(StrEnum):
    NO_MARKET_PRICE = "no_market_price"
    PRICE_COLLAR = "price_collar"
    MAX_ORDER_NOTIONAL = "max_order_notional"
    SIGNAL_EXPIRED = "signal_expired"
    TRADING_HALTED = "trading_halted"
    RISK_PER_TRADE = "risk_per_trade"
    TRADING_REDUCING = "trading_reducing"
    DUPLICATE_SIGNAL = "duplicate_signal"
    TRADING_HOURS = "trading_hours"
    MAX_ORDER_QUANTITY = "max_order_quantity"
    BRACKET_PRICES = "bracket_prices"
    MIN_RISK_REWARD = "min_risk_reward"
    DAILY_LOSS_LIMIT = "daily_loss_limit"
    MAX_POSITION_NOTIONAL = "max_position_notional"
    MAX_OPEN_POSITIONS = "max_open_positions"
    MAX_GROSS_EXPOSURE = "max_gross_exposure"


@dataclass(frozen=True)
class Exposure:
    """The book as the risk engine sees it when an order group arrives.

    ``gross_exposure`` is the sum of |position value| plus the value of working entry orders;
    ``engaged`` the instruments held or being entered; ``duplicate_of`` the group reference of
    a working order group from the same strategy, on the same instrument and in the same
    direction (None when there is none, and always for manual orders). ``mark`` is the
    instrument's last market price (None when unknown); ``pending`` the signed quantity of the
    working orders on the order's side for this instrument (what the position becomes once they fill).
    """

    equity: Decimal
    daily_pnl: Decimal
    position: Decimal
    gross_exposure: Decimal
    engaged: frozenset[int]
    duplicate_of: str | None = None
    mark: Decimal | None = None
    pending: Decimal = Decimal(0)

    @property
    def projected(self) -> Decimal:
        """The position once the working orders on the order's side have filled."""
        return self.position + self.pending


@dataclass(frozen=True)
class Guardrails:
    """What the settings fix and the API cannot change: the price collar and the hard ceilings."""

    price_collar: Decimal = DEFAULT_PRICE_COLLAR
    ceilings: TradingCeilings = field(default_factory=TradingCeilings)


@dataclass(frozen=True)
class _Prices:
    """The prices an order is checked at: ``notional`` (the higher of its price and the mark) and ``risk_entry``
    (of its entry and the mark, the farther from its stop)."""

    notional: Decimal
    risk_entry: Decimal


@dataclass(frozen=True)
class Approval:
    quantity: Decimal
    sizing: str


@dataclass(frozen=True)
class Refusal:
    rule: Rule
    reason: str
    quantity: Decimal = Decimal(0)
    sizing: str = ""


def _plain(value: Decimal) -> str:
    """A decimal in plain notation (``60000``, never ``6E+4`` as Postgres numerics may come back)."""
    return f"{value:f}"


def _money(value: Decimal) -> str:
    return f"{value:,.2f}"


def assess(
    plan: GroupPlan,
    exposure: Exposure,
    limits: TradingLimits,
    state: TradingState,
    state_reason: str,
    now: datetime,
    guards: Guardrails = Guardrails(),
) -> Approval | Refusal:
    """Size ``plan`` (when it has no fixed quantity) and check it against every rule."""
    limits = guards.ceilings.clamp(limits)
    price = plan.reference_price
    entry = plan.entry_price
    if price is None or entry is None or exposure.mark is None:
        return Refusal(
            Rule.NO_MARKET_PRICE,
            f"no market price is known for {plan.instrument.symbol} (conid {plan.instrument.conid}) to check the "
            "limits and the price collar against: run a strategy on this instrument first, so the broker sees "
            "its bars",
        )
    collar = _price_collar(plan, exposure.mark, guards.price_collar)
    if collar is not None:
        return collar
    early = _before_sizing(plan, exposure, limits, state, state_reason, now)
    if early is not None:
        return early
    prices = _worst_prices(plan, price, entry, exposure.mark)
    equity = min(exposure.equity, guards.ceilings.max_sizing_equity)
    sized = _quantity(plan, exposure, limits, guards.ceilings, prices, equity)
    if isinstance(sized, Refusal):
        return sized
    quantity, sizing = sized
    refusal = _check(plan, exposure, limits, guards.ceilings, state, prices, entry, quantity, equity)
    if refusal is not None:
        return Refusal(refusal.rule, refusal.reason, quantity, sizing)
    return Approval(quantity, sizing)


def _price_collar(plan: GroupPlan, mark: Decimal, collar: Decimal) -> Refusal | None:
    """Refuse an entry whose limit or stop price lies farther from the mark than ``collar`` (a fraction of it)."""
    for name, value in (("limit price", plan.limit_price), ("stop price", plan.stop_price)):
        if value is None:
            continue
        distance = abs(value - mark)
        if distance > collar * mark:
            return Refusal(
                Rule.PRICE_COLLAR,
                f"the {name} {_plain(value)} is {_percent(distance / mark)} from the mark {_plain(mark)} of "
                f"{plan.instrument.symbol}, beyond the price collar of {_percent(collar)}",
            )
    return None


def _worst_prices(plan: GroupPlan, price: Decimal, entry: Decimal, mark: Decimal) -> _Prices:
    """Check notional at the higher of the order's prices and the mark, and risk from the one farther from the stop."""
    notional = max(price, entry, mark)
    if plan.stop_loss is None:
        return _Prices(notional, entry)
    stop = plan.stop_loss
    return _Prices(notional, max((entry, mark), key=lambda candidate: abs(candidate - stop)))


def _before_sizing(
    plan: GroupPlan,
    exposure: Exposure,
    limits: TradingLimits,
    state: TradingState,
    state_reason: str,
    now: datetime,
) -> Refusal | None:
    """The rules that do not depend on the quantity."""
    if plan.expires_at is not None and now >= plan.expires_at:
        return Refusal(
            Rule.SIGNAL_EXPIRED,
            f"the signal expired at {plan.expires_at.isoformat()}; it is {now.isoformat()} now",
        )
    if state is TradingState.HALTED:
        return Refusal(
            Rule.TRADING_HALTED,
            f"trading is HALTED ({state_reason}): only cancels go through; resume with POST /api/risk/resume",
        )
    if exposure.duplicate_of is not None:
        return Refusal(
            Rule.DUPLICATE_SIGNAL,
            f"the strategy already has orders working for a {plan.side.value} on {plan.instrument.symbol} "
            f"(group {exposure.duplicate_of}); a repeated signal places nothing until they finish",
        )
    return _trading_hours(plan, limits, now)


def _quantity(
    plan: GroupPlan,
    exposure: Exposure,
    limits: TradingLimits,
    ceilings: TradingCeilings,
    prices: _Prices,
    equity: Decimal,
) -> tuple[Decimal, str] | Refusal:
    if plan.quantity is not None:
        return plan.quantity, f"manual quantity {plan.quantity}"
    if plan.stop_loss is None or plan.risk_fraction is None:
        msg = f"order group {plan.group_ref} has neither a quantity nor a stop and risk fraction to size it from"
        raise ValueError(msg)
    sign = plan.side.sign
    price = prices.notional
    held = exposure.position
    projected = exposure.projected
    notional_room = limits.max_position_notional / price - sign * projected
    exposure_room = (limits.max_gross_exposure - exposure.gross_exposure) / price + abs(held) - sign * held
    holding = (
        f"holding {_plain(held)}"
        if projected == held
        else f"holding {_plain(held)}, {_plain(projected)} with the working orders"
    )
    caps = (
        Cap(
            Rule.MAX_POSITION_NOTIONAL,
            notional_room,
            f"{_money(limits.max_position_notional)} / {_plain(price)}, {holding}",
        ),
        Cap(
            Rule.MAX_GROSS_EXPOSURE,
            exposure_room,
            f"({_money(limits.max_gross_exposure)} - {_money(exposure.gross_exposure)}) / {_plain(price)}",
        ),
        Cap(Rule.MAX_ORDER_QUANTITY, limits.max_order_quantity, f"limit {_plain(limits.max_order_quantity)}"),
        Cap(
            Rule.MAX_ORDER_NOTIONAL,
            ceilings.max_order_notional / price,
            f"ceiling {_money(ceilings.max_order_notional)} / {_plain(price)}",
        ),
    )
    sizing = size_from_risk(
        equity=equity,
        risk_fraction=plan.risk_fraction,
        entry=prices.risk_entry,
        stop=plan.stop_loss,
        step=quantity_step(plan.instrument.asset_type),
        caps=caps,
    )
    if sizing.quantity > 0:
        return sizing.quantity, sizing.explanation
    if sizing.risk_quantity == 0:
        budget = equity * plan.risk_fraction
        return Refusal(
            Rule.RISK_PER_TRADE,
            f"one unit risks {_plain(abs(prices.risk_entry - plan.stop_loss))} "
            f"(|{_plain(prices.risk_entry)} - {_plain(plan.stop_loss)}|), more than the budget {_money(budget)} "
            f"({plan.risk_fraction} of equity {_money(equity)})",
            sizing=sizing.explanation,
        )
    rule = Rule(sizing.bound_by) if sizing.bound_by is not None else Rule.RISK_PER_TRADE
    return Refusal(rule, f"no room left under {rule}: {sizing.explanation}", sizing=sizing.explanation)


def _check(
    plan: GroupPlan,
    exposure: Exposure,
    limits: TradingLimits,
    ceilings: TradingCeilings,
    state: TradingState,
    prices: _Prices,
    entry: Decimal,
    quantity: Decimal,
    equity: Decimal,
) -> Refusal | None:
    only_reduces = reduces(exposure.projected, plan.side, quantity)
    if state is TradingState.REDUCING and not only_reduces:
        return Refusal(
            Rule.TRADING_REDUCING,
            f"trading is REDUCING: only orders that reduce a position go through; {plan.side.value} {_plain(quantity)} "
            f"{plan.instrument.symbol} does not reduce the position of {_position(exposure)}",
        )
    refusal = (
        _order_quantity(limits, quantity)
        or _order_notional(ceilings, prices.notional, quantity)
        or _bracket_prices(plan, entry)
        or _risk_reward(plan, limits, entry)
    )
    if refusal is not None or only_reduces:
        return refusal
    return _exposure_rules(plan, exposure, limits, prices, quantity, equity)


def _position(exposure: Exposure) -> str:
    if exposure.pending == 0:
        return _plain(exposure.position)
    return f"{_plain(exposure.position)} ({_plain(exposure.projected)} once the working orders on this side fill)"


def _order_notional(ceilings: TradingCeilings, price: Decimal, quantity: Decimal) -> Refusal | None:
    notional = quantity * price
    if notional <= ceilings.max_order_notional:
        return None
    return Refusal(
        Rule.MAX_ORDER_NOTIONAL,
        f"the order is worth {_plain(quantity)} x {_plain(price)} = {_money(notional)}, above the ceiling "
        f"max_order_notional {_money(ceilings.max_order_notional)}",
    )


def _percent(fraction: Decimal) -> str:
    return f"{100 * fraction:.2f} %"


def _order_quantity(limits: TradingLimits, quantity: Decimal) -> Refusal | None:
    if quantity <= limits.max_order_quantity:
        return None
    return Refusal(
        Rule.MAX_ORDER_QUANTITY, f"quantity {_plain(quantity)} is above the limit {_plain(limits.max_order_quantity)}"
    )


def _risk_reward(plan: GroupPlan, limits: TradingLimits, entry: Decimal) -> Refusal | None:
    if plan.stop_loss is None or plan.take_profit is None:
        return None
    ratio = abs(plan.take_profit - entry) / abs(entry - plan.stop_loss)
    if ratio >= limits.min_risk_reward:
        return None
    return Refusal(
        Rule.MIN_RISK_REWARD,
        f"reward/risk {ratio:.2f} (|{_plain(plan.take_profit)} - {_plain(entry)}| / "
        f"|{_plain(entry)} - {_plain(plan.stop_loss)}|) is below the minimum {limits.min_risk_reward}",
    )


def _trading_hours(plan: GroupPlan, limits: TradingLimits, now: datetime) -> Refusal | None:
    if not limits.enforce_trading_hours:
        return None
    instrument = plan.instrument
    calendar = calendar_for(instrument)
    if calendar is None:
        return Refusal(
            Rule.TRADING_HOURS,
            f"no trading calendar is known for exchange {instrument.exchange} ({instrument.asset_type.value} in "
            f"{instrument.currency}); set enforce_trading_hours to false in PUT /api/risk/limits to trade it",
        )
    if calendar.is_open(now):
        return None
    local = now.astimezone(ZoneInfo(calendar.zone))
    return Refusal(
        Rule.TRADING_HOURS,
        f"{calendar.name} is closed at {local:%a %Y-%m-%d %H:%M} {calendar.zone}",
    )


def _bracket_prices(plan: GroupPlan, entry: Decimal) -> Refusal | None:
    sign = plan.side.sign
    if plan.take_profit is not None and (plan.take_profit - entry) * sign <= 0:
        where = "above" if plan.side is OrderSide.BUY else "below"
        return Refusal(
            Rule.BRACKET_PRICES, f"take-profit {_plain(plan.take_profit)} must be {where} the entry {_plain(entry)}"
        )
    if plan.stop_loss is not None and (entry - plan.stop_loss) * sign <= 0:
        where = "below" if plan.side is OrderSide.BUY else "above"
        return Refusal(
            Rule.BRACKET_PRICES, f"stop-loss {_plain(plan.stop_loss)} must be {where} the entry {_plain(entry)}"
        )
    return None


def _exposure_rules(
    plan: GroupPlan,
    exposure: Exposure,
    limits: TradingLimits,
    prices: _Prices,
    quantity: Decimal,
    equity: Decimal,
) -> Refusal | None:
    held = exposure.position
    price = prices.notional
    if plan.stop_loss is not None:
        entry = prices.risk_entry
        risk = quantity * abs(entry - plan.stop_loss)
        budget = equity * limits.risk_per_trade
        if risk > budget:
            return Refusal(
                Rule.RISK_PER_TRADE,
                f"the order risks {_money(risk)} ({_plain(quantity)} x |{_plain(entry)} - "
                f"{_plain(plan.stop_loss)}|), more than {limits.risk_per_trade} of equity {_money(equity)} = "
                f"{_money(budget)}",
            )
    if exposure.daily_pnl <= -limits.daily_loss_limit:
        return Refusal(
            Rule.DAILY_LOSS_LIMIT,
            f"today's P&L {_money(exposure.daily_pnl)} has reached the daily loss limit "
            f"{_money(limits.daily_loss_limit)}: only orders that reduce a position go through",
        )
    projected = exposure.projected + plan.side.sign * quantity
    notional = abs(projected) * price
    if notional > limits.max_position_notional:
        working = "" if exposure.pending == 0 else " with the working orders on this side"
        return Refusal(
            Rule.MAX_POSITION_NOTIONAL,
            f"the position would be {_plain(projected)}{working} x {_plain(price)} = {_money(notional)}, "
            f"above the limit {_money(limits.max_position_notional)}",
        )
    conid = plan.instrument.conid
    if held == 0 and conid not in exposure.engaged and len(exposure.engaged) >= limits.max_open_positions:
        return Refusal(
            Rule.MAX_OPEN_POSITIONS,
            f"{len(exposure.engaged)} instruments are held or being entered; the limit is {limits.max_open_positions}",
        )
    gross = exposure.gross_exposure - abs(held) * price + abs(held + plan.side.sign * quantity) * price
    if gross > limits.max_gross_exposure:
        return Refusal(
            Rule.MAX_GROSS_EXPOSURE,
            f"gross exposure would be {_money(gross)} (now {_money(exposure.gross_exposure)}), above the limit "
            f"{_money(limits.max_gross_exposure)}",
        )
    return None
