"""The risk engine: every rule refuses with its name and the numbers, and sizing respects the caps."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import uuid4

from tradelane.contracts.ceilings import TradingCeilings
from tradelane.contracts.market import ResolvedSymbol
from tradelane.contracts.strategy import AssetType
from tradelane.contracts.trading import OrderSide, OrderType, TimeInForce, TradingLimits, TradingState
from tradelane.trading.orders import GroupPlan
from tradelane.trading.risk import Approval, Exposure, Guardrails, Refusal, Rule, assess

from .support import AAPL, BTC

D = Decimal
OPEN = datetime(2025, 3, 4, 15, 0, tzinfo=UTC)  # Tuesday 10:00 in New York
LIMITS = TradingLimits(
    risk_per_trade=D("0.02"),
    max_position_notional=D(50_000),
    max_open_positions=3,
    max_gross_exposure=D(100_000),
    daily_loss_limit=D(2_000),
    min_risk_reward=D(1),
    max_order_quantity=D(5_000),
)
FLAT = Exposure(equity=D(100_000), daily_pnl=D(0), position=D(0), gross_exposure=D(0), engaged=frozenset(), mark=D(100))
"""A flat book, with AAPL marked at 100 (the price of the plans below)."""


def signal_plan(**changes: object) -> GroupPlan:
    """A BUY bracket on AAPL at 100, stop 98, target 104, sized from 1 % of equity."""
    plan = GroupPlan(
        group_ref="tl-s-test",
        source="signal",
        instrument=AAPL,
        side=OrderSide.BUY,
        entry_type=OrderType.LIMIT,
        tif=TimeInForce.DAY,
        execution_id=uuid4(),
        strategy_id=uuid4(),
        limit_price=D(100),
        take_profit=D(104),
        stop_loss=D(98),
        risk_fraction=D("0.01"),
        reference_price=D(100),
    )
    return replace(plan, **changes)  # type: ignore[arg-type]


def manual_plan(**changes: object) -> GroupPlan:
    """A manual market order for 10 AAPL with the price at 100."""
    return signal_plan(
        **{
            "source": "manual",
            "entry_type": OrderType.MARKET,
            "limit_price": None,
            "take_profit": None,
            "stop_loss": None,
            "risk_fraction": None,
            "quantity": D(10),
            **changes,
        }
    )


def refused(plan: GroupPlan, exposure: Exposure = FLAT, **options: object) -> Refusal:
    verdict = assess(
        plan,
        exposure,
        options.get("limits", LIMITS),  # type: ignore[arg-type]
        options.get("state", TradingState.ACTIVE),  # type: ignore[arg-type]
        "halted by a test",
        options.get("now", OPEN),  # type: ignore[arg-type]
    )
    assert isinstance(verdict, Refusal), verdict
    return verdict


def approved(plan: GroupPlan, exposure: Exposure = FLAT, **options: object) -> Approval:
    verdict = assess(
        plan,
        exposure,
        options.get("limits", LIMITS),  # type: ignore[arg-type]
        options.get("state", TradingState.ACTIVE),  # type: ignore[arg-type]
        "",
        options.get("now", OPEN),  # type: ignore[arg-type]
    )
    assert isinstance(verdict, Approval), verdict
    return verdict


def test_a_signal_is_sized_from_its_risk_fraction() -> None:
    assert approved(signal_plan()).quantity == 500  # 100,000 x 1 % / 2


def test_sizing_is_capped_by_the_position_notional_limit() -> None:
    verdict = approved(signal_plan(), limits=LIMITS.model_copy(update={"max_position_notional": D(20_000)}))
    assert verdict.quantity == 200
    assert "max_position_notional" in verdict.sizing


def test_sizing_is_capped_by_the_room_left_under_gross_exposure() -> None:
    exposure = replace(FLAT, gross_exposure=D(90_000))
    assert approved(signal_plan(), exposure).quantity == 100


def test_sizing_is_capped_by_the_order_quantity_limit() -> None:
    verdict = approved(signal_plan(), limits=LIMITS.model_copy(update={"max_order_quantity": D(42)}))
    assert verdict.quantity == 42


def test_sizing_counts_an_existing_position_against_the_notional_limit() -> None:
    assert approved(signal_plan(), replace(FLAT, position=D(300), engaged=frozenset({AAPL.conid}))).quantity == 200


def test_no_room_under_gross_exposure_refuses_naming_that_limit() -> None:
    refusal = refused(signal_plan(), replace(FLAT, gross_exposure=D(100_000)))
    assert refusal.rule is Rule.MAX_GROSS_EXPOSURE
    assert "100,000.00 - 100,000.00" in refusal.reason


def test_no_price_refuses_a_market_order() -> None:
    refusal = refused(manual_plan(reference_price=None))
    assert refusal.rule is Rule.NO_MARKET_PRICE
    assert "AAPL" in refusal.reason


def test_an_expired_signal_places_nothing() -> None:
    refusal = refused(signal_plan(expires_at=OPEN - timedelta(seconds=1)))
    assert refusal.rule is Rule.SIGNAL_EXPIRED


def test_halted_trading_refuses_everything_with_the_reason() -> None:
    refusal = refused(manual_plan(side=OrderSide.SELL), replace(FLAT, position=D(10)), state=TradingState.HALTED)
    assert refusal.rule is Rule.TRADING_HALTED
    assert "halted by a test" in refusal.reason


def test_reducing_trading_refuses_an_order_that_adds_exposure() -> None:
    refusal = refused(manual_plan(), replace(FLAT, position=D(10)), state=TradingState.REDUCING)
    assert refusal.rule is Rule.TRADING_REDUCING


def test_reducing_trading_lets_an_order_that_reduces_through() -> None:
    long_ten = replace(FLAT, position=D(10))
    approved(manual_plan(side=OrderSide.SELL, quantity=D(4)), long_ten, state=TradingState.REDUCING)


def test_one_unit_riskier_than_the_budget_refuses_as_risk_per_trade() -> None:
    refusal = refused(signal_plan(stop_loss=D(1), take_profit=D(400), risk_fraction=D("0.0001")))
    assert refusal.rule is Rule.RISK_PER_TRADE
    assert "one unit risks 99" in refusal.reason


def test_a_strategy_risking_more_than_the_account_limit_is_refused() -> None:
    refusal = refused(signal_plan(risk_fraction=D("0.05"), stop_loss=D(90), take_profit=D(120)))
    assert refusal.rule is Rule.RISK_PER_TRADE
    assert "more than 0.02 of equity" in refusal.reason


def test_a_manual_bracket_risking_too_much_is_refused() -> None:
    refusal = refused(manual_plan(quantity=D(400), stop_loss=D(90), take_profit=D(120)))
    assert refusal.rule is Rule.RISK_PER_TRADE
    assert "4,000.00" in refusal.reason


def test_a_repeated_signal_is_refused_as_a_duplicate() -> None:
    refusal = refused(signal_plan(), replace(FLAT, duplicate_of="tl-s-earlier"))
    assert refusal.rule is Rule.DUPLICATE_SIGNAL
    assert "tl-s-earlier" in refusal.reason


def test_orders_outside_the_exchange_hours_are_refused() -> None:
    refusal = refused(manual_plan(), now=datetime(2025, 3, 8, 15, 0, tzinfo=UTC))
    assert refusal.rule is Rule.TRADING_HOURS
    assert "US equities is closed at Sat 2025-03-08 10:00" in refusal.reason


def test_an_exchange_without_a_calendar_is_refused_until_hours_are_not_enforced() -> None:
    swiss = ResolvedSymbol(conid=5, symbol="NESN", exchange="EBS", currency="CHF", asset_type=AssetType.STOCK)
    assert refused(manual_plan(instrument=swiss)).rule is Rule.TRADING_HOURS
    approved(manual_plan(instrument=swiss), limits=LIMITS.model_copy(update={"enforce_trading_hours": False}))


def test_crypto_trades_at_the_weekend() -> None:
    approved(manual_plan(instrument=BTC, quantity=D("0.1")), now=datetime(2025, 3, 8, 3, tzinfo=UTC))


def test_a_manual_order_above_the_quantity_limit_is_refused() -> None:
    roomy = LIMITS.model_copy(update={"max_position_notional": D(10**9), "max_gross_exposure": D(10**9)})
    refusal = refused(manual_plan(quantity=D(5_001)), limits=roomy)
    assert refusal.rule is Rule.MAX_ORDER_QUANTITY
    assert "5001 is above the limit 5000" in refusal.reason


def test_a_bracket_with_its_take_profit_below_a_buy_entry_is_refused() -> None:
    refusal = refused(manual_plan(take_profit=D(99), stop_loss=D(95)))
    assert refusal.rule is Rule.BRACKET_PRICES


def test_a_reward_smaller_than_the_minimum_multiple_of_risk_is_refused() -> None:
    refusal = refused(signal_plan(take_profit=D(101)))
    assert refusal.rule is Rule.MIN_RISK_REWARD
    assert "reward/risk 0.50" in refusal.reason


def test_the_daily_loss_limit_refuses_new_exposure() -> None:
    refusal = refused(manual_plan(), replace(FLAT, daily_pnl=D(-2_000)))
    assert refusal.rule is Rule.DAILY_LOSS_LIMIT
    assert "-2,000.00" in refusal.reason


def test_the_daily_loss_limit_lets_a_reducing_order_through() -> None:
    approved(manual_plan(side=OrderSide.SELL), replace(FLAT, daily_pnl=D(-5_000), position=D(10)))


def test_a_position_above_the_notional_limit_is_refused() -> None:
    refusal = refused(manual_plan(quantity=D(501)))
    assert refusal.rule is Rule.MAX_POSITION_NOTIONAL
    assert "501 x 100 = 50,100.00" in refusal.reason


def test_one_instrument_too_many_is_refused() -> None:
    refusal = refused(manual_plan(), replace(FLAT, engaged=frozenset({1, 2, 3})))
    assert refusal.rule is Rule.MAX_OPEN_POSITIONS
    assert "3 instruments" in refusal.reason


def test_adding_to_an_instrument_already_held_does_not_count_as_a_new_position() -> None:
    approved(manual_plan(), replace(FLAT, position=D(5), engaged=frozenset({1, 2, AAPL.conid})))


def test_gross_exposure_above_the_limit_is_refused() -> None:
    refusal = refused(manual_plan(quantity=D(200)), replace(FLAT, gross_exposure=D(85_000)))
    assert refusal.rule is Rule.MAX_GROSS_EXPOSURE
    assert "105,000.00" in refusal.reason


# Guardrails: the price collar, the worse of price and mark, reduce-only net of working orders, hard ceilings.


def guarded(
    plan: GroupPlan,
    exposure: Exposure = FLAT,
    *,
    guards: Guardrails | None = None,
    state: TradingState = TradingState.ACTIVE,
    limits: TradingLimits = LIMITS,
) -> Approval | Refusal:
    return assess(plan, exposure, limits, state, "", OPEN, guards or Guardrails())


def test_a_limit_price_beyond_the_collar_around_the_mark_is_refused() -> None:
    """The mark is 100; a 5 % collar lets a limit of 95 through and refuses 94.99."""
    assert isinstance(guarded(manual_plan(entry_type=OrderType.LIMIT, limit_price=D(95))), Approval)
    refusal = guarded(manual_plan(entry_type=OrderType.LIMIT, limit_price=D("94.99")))
    assert isinstance(refusal, Refusal)
    assert refusal.rule is Rule.PRICE_COLLAR
    assert (
        refusal.reason == "the limit price 94.99 is 5.01 % from the mark 100 of AAPL, beyond the price collar of 5.00 %"
    )


def test_a_stop_price_beyond_the_collar_is_refused() -> None:
    plan = manual_plan(entry_type=OrderType.STOP, stop_price=D(106))
    refusal = guarded(plan)
    assert isinstance(refusal, Refusal)
    assert (refusal.rule, refusal.reason.split(" is ")[0]) == (Rule.PRICE_COLLAR, "the stop price 106")


def test_the_collar_comes_from_the_guardrails() -> None:
    plan = manual_plan(entry_type=OrderType.LIMIT, limit_price=D(90))
    assert isinstance(guarded(plan, guards=Guardrails(price_collar=D("0.10"))), Approval)


def test_the_incident_a_sell_limit_at_1_with_btc_near_61000_is_refused_by_the_collar() -> None:
    plan = signal_plan(
        instrument=BTC, side=OrderSide.SELL, limit_price=D("1.00"), reference_price=D("1.00"),
        stop_loss=D("1.50"), take_profit=D("0.50"),
    )  # fmt: skip
    refusal = guarded(plan, replace(FLAT, mark=D(61_140)))
    assert isinstance(refusal, Refusal)
    assert refusal.rule is Rule.PRICE_COLLAR
    assert refusal.quantity == 0


def test_no_mark_refuses_even_a_limit_order() -> None:
    """Without a mark the collar cannot be checked; the order's own price is never taken for the market's."""
    refusal = guarded(manual_plan(entry_type=OrderType.LIMIT, limit_price=D(100)), replace(FLAT, mark=None))
    assert isinstance(refusal, Refusal)
    assert refusal.rule is Rule.NO_MARKET_PRICE


def test_position_notional_is_checked_at_the_mark_when_it_is_worse_than_the_limit_price() -> None:
    """510 at a limit of 96 is 48,960 (under 50,000); at the mark of 100 it is 51,000."""
    plan = manual_plan(entry_type=OrderType.LIMIT, limit_price=D(96), reference_price=D(96), quantity=D(510))
    refusal = guarded(plan)
    assert isinstance(refusal, Refusal)
    assert refusal.rule is Rule.MAX_POSITION_NOTIONAL
    assert refusal.reason == "the position would be 510 x 100 = 51,000.00, above the limit 50,000.00"
    assert isinstance(guarded(replace(plan, quantity=D(490))), Approval)


def test_sizing_uses_the_mark_when_it_lies_farther_from_the_stop() -> None:
    """A BUY limit at 98 with the stop at 96 and the mark at 100: 1,000 at risk over 4 (not 2) is 250."""
    plan = signal_plan(limit_price=D(98), reference_price=D(98), stop_loss=D(96), take_profit=D(106))
    verdict = guarded(plan)
    assert isinstance(verdict, Approval)
    assert verdict.quantity == 250
    assert "|100 - 96|" in verdict.sizing


def test_risk_per_trade_is_checked_from_the_worse_of_entry_and_mark() -> None:
    """Manual 700 at a limit of 99, stop 97: 1,400 from the limit, but 2,100 from the mark of 100 (budget 2,000)."""
    plan = manual_plan(
        entry_type=OrderType.LIMIT, limit_price=D(99), reference_price=D(99), stop_loss=D(97), take_profit=D(105),
        quantity=D(700),
    )  # fmt: skip
    refusal = guarded(plan)
    assert isinstance(refusal, Refusal)
    assert refusal.rule is Rule.RISK_PER_TRADE
    assert "700 x |100 - 97|" in refusal.reason


def test_reduce_only_nets_the_working_orders_of_the_same_side() -> None:
    """Short 31 with a BUY of 31 already working: another BUY of 31 reduces nothing, so REDUCING refuses it."""
    short = replace(FLAT, position=D(-31), engaged=frozenset({AAPL.conid}))
    buy = manual_plan(quantity=D(31))
    assert isinstance(guarded(buy, short, state=TradingState.REDUCING), Approval)
    refusal = guarded(buy, replace(short, pending=D(31)), state=TradingState.REDUCING)
    assert isinstance(refusal, Refusal)
    assert refusal.rule is Rule.TRADING_REDUCING
    assert "the position of -31 (0 once the working orders on this side fill)" in refusal.reason


def test_only_the_part_net_of_working_orders_counts_as_reducing() -> None:
    """Short 31 with 20 bought already: a BUY of 11 still reduces, a BUY of 12 would not only reduce."""
    short = replace(FLAT, position=D(-31), pending=D(20), engaged=frozenset({AAPL.conid}))
    assert isinstance(guarded(manual_plan(quantity=D(11)), short, state=TradingState.REDUCING), Approval)
    refusal = guarded(manual_plan(quantity=D(12)), short, state=TradingState.REDUCING)
    assert isinstance(refusal, Refusal)
    assert refusal.rule is Rule.TRADING_REDUCING


def test_an_order_that_reduces_nothing_net_of_working_orders_meets_the_exposure_rules() -> None:
    """Short 31 with 531 already bought: the position would be 500 + 31 at 100 = 53,100, above 50,000."""
    short = replace(FLAT, position=D(-31), pending=D(531), engaged=frozenset({AAPL.conid}))
    refusal = guarded(manual_plan(quantity=D(31)), short)
    assert isinstance(refusal, Refusal)
    assert refusal.rule is Rule.MAX_POSITION_NOTIONAL
    assert "531 with the working orders on this side x 100" in refusal.reason


def test_a_limit_above_its_ceiling_is_enforced_at_the_ceiling() -> None:
    """The book allows 5,000 units per order; the operator's ceiling says 100."""
    guards = Guardrails(ceilings=TradingCeilings(max_order_quantity=D(100)))
    refusal = guarded(manual_plan(quantity=D(101)), guards=guards)
    assert isinstance(refusal, Refusal)
    assert (refusal.rule, refusal.reason) == (Rule.MAX_ORDER_QUANTITY, "quantity 101 is above the limit 100")


def test_an_order_above_the_notional_ceiling_is_refused_even_when_it_reduces() -> None:
    guards = Guardrails(ceilings=TradingCeilings(max_order_notional=D(10_000)))
    long = replace(FLAT, position=D(200), engaged=frozenset({AAPL.conid}))
    refusal = guarded(manual_plan(side=OrderSide.SELL, quantity=D(101)), long, guards=guards)
    assert isinstance(refusal, Refusal)
    assert refusal.rule is Rule.MAX_ORDER_NOTIONAL
    assert refusal.reason == (
        "the order is worth 101 x 100 = 10,100.00, above the ceiling max_order_notional 10,000.00"
    )


def test_sizing_is_capped_by_the_order_notional_ceiling() -> None:
    verdict = guarded(signal_plan(), guards=Guardrails(ceilings=TradingCeilings(max_order_notional=D(30_000))))
    assert isinstance(verdict, Approval)
    assert verdict.quantity == 300
    assert "capped to 300 by max_order_notional" in verdict.sizing


def test_sizing_counts_equity_only_up_to_the_sizing_ceiling() -> None:
    """Equity of 10 million sizes like the ceiling's 50,000: 1 % over 2 is 250."""
    guards = Guardrails(ceilings=TradingCeilings(max_sizing_equity=D(50_000)))
    verdict = guarded(signal_plan(), replace(FLAT, equity=D(10_000_000)), guards=guards)
    assert isinstance(verdict, Approval)
    assert verdict.quantity == 250
