"""The signal rules: action, entry, ATR, stop, targets, the four rejections, sizing and expiry."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tradelane.contracts.events import Action, Analysis, Bias, Signal, held_because
from tradelane.contracts.market import Bar, MarketSnapshot, ResolvedSymbol
from tradelane.contracts.strategy import AssetType, BarSize, RiskLimits
from tradelane.signals.rules import Accepted, Rejected, decide, wilder_atr

NOW = datetime(2025, 6, 13, 21, 0, tzinfo=UTC)
STOCK = ResolvedSymbol(conid=1, symbol="TEST", exchange="NASDAQ", currency="USD", asset_type=AssetType.STOCK)
FUTURE = ResolvedSymbol(
    conid=2, symbol="ES", exchange="CME", currency="USD", asset_type=AssetType.FUTURE, min_tick=0.25
)
RISK = RiskLimits()
"""Defaults: 100 000 account, 1 % risk, 1.5R minimum, 1 % margin, confidence 55, 2 ATR stop, 1.5R/3R."""


def bars(count: int, close: float = 100.0, true_range: float = 2.0) -> tuple[Bar, ...]:
    """Flat bars whose every true range is ``true_range``."""
    half = true_range / 2
    start = NOW - timedelta(days=count)
    return tuple(
        Bar(time=start + timedelta(days=i), open=close, high=close + half, low=close - half, close=close, volume=1e3)
        for i in range(count)
    )


def snapshot(
    close: float = 100.0,
    latest: Mapping[str, float | None] | None = None,
    recent: Sequence[Bar] | None = None,
    symbol: ResolvedSymbol = STOCK,
) -> MarketSnapshot:
    recent_bars = tuple(bars(20, close) if recent is None else recent)
    return MarketSnapshot(
        symbol=symbol,
        bar_size=BarSize.DAY_1,
        last_bar_time=NOW - timedelta(days=1),
        last_close=close,
        recent_bars=recent_bars,
        latest=dict({"atr_14": 2.0} if latest is None else latest),
        previous={},
    )


def analysis(
    bias: Bias = "bullish",
    confidence: int = 80,
    entry: float | None = None,
    stop: float | None = None,
    targets: tuple[float, ...] = (),
) -> Analysis:
    return Analysis(
        bias=bias,
        trend="uptrend" if bias == "bullish" else "downtrend",
        confidence=confidence,
        suggested_entry=entry,
        suggested_stop=stop,
        suggested_targets=targets,
        key_factors=("SuperTrend up", "RSI 14 at 62.0"),
        model="offline-rules-v1",
    )


def accepted(reading: Analysis | None = None, market: MarketSnapshot | None = None, risk: RiskLimits = RISK) -> Signal:
    outcome = decide(reading or analysis(), market or snapshot(), risk, NOW)
    assert isinstance(outcome, Accepted), outcome
    return outcome.signal


def rejected(reading: Analysis, market: MarketSnapshot | None = None, risk: RiskLimits = RISK) -> Rejected:
    outcome = decide(reading, market or snapshot(), risk, NOW)
    assert isinstance(outcome, Rejected), outcome
    return outcome


def test_bullish_analysis_becomes_buy() -> None:
    assert accepted(analysis("bullish")).action == Action.BUY


def test_bearish_analysis_becomes_sell() -> None:
    assert accepted(analysis("bearish")).action == Action.SELL


def test_neutral_analysis_is_hold_without_prices() -> None:
    signal = accepted(analysis("neutral", entry=100.0, stop=96.0, targets=(110.0,)))
    assert signal.action == Action.HOLD
    assert (signal.entry, signal.stop, signal.targets, signal.risk_reward, signal.suggested_quantity) == (
        None,
        None,
        (),
        None,
        None,
    )
    assert signal.reasons[-1] == "HOLD: the analysis is neutral"


def test_low_confidence_is_hold_and_says_why() -> None:
    signal = accepted(analysis("bullish", confidence=54))
    assert signal.action == Action.HOLD
    assert signal.entry is None
    assert signal.reasons[-1] == "HOLD: confidence 54 is below the minimum 55"


def test_a_hold_for_low_confidence_is_read_back_as_why_it_holds() -> None:
    """The backtest's decision log reads the note back with ``held_because``, past a key factor worded alike."""
    signal = accepted(analysis("bullish", confidence=54).model_copy(update={"key_factors": ("HOLD: earnings soon",)}))
    assert held_because(signal.reasons) == "confidence 54 is below the minimum 55"


def test_confidence_at_the_minimum_trades() -> None:
    assert accepted(analysis("bullish", confidence=55)).action == Action.BUY


def test_hold_needs_no_atr() -> None:
    """A HOLD is accepted before any price rule runs, so missing inputs cannot reject it."""
    assert accepted(analysis("neutral"), snapshot(latest={}, recent=bars(3))).action == Action.HOLD


def test_entry_defaults_to_the_last_close() -> None:
    assert accepted(analysis(entry=None), snapshot(close=101.37)).entry == Decimal("101.37")


def test_entry_prefers_the_suggested_entry() -> None:
    assert accepted(analysis(entry=100.5)).entry == Decimal("100.50")


def test_entry_is_quantised_to_the_nearest_tick() -> None:
    signal = accepted(analysis(entry=5200.13), snapshot(5200.0, symbol=FUTURE, latest={"atr_14": 30.0}))
    assert signal.entry == Decimal("5200.25")
    assert str(signal.entry) == "5200.25"


def test_prices_are_decimals_written_with_the_tick_decimals() -> None:
    signal = accepted()
    prices = (signal.entry, signal.stop, *signal.targets)
    assert all(isinstance(price, Decimal) for price in prices)
    assert [str(price) for price in prices] == ["100.00", "96.00", "106.00", "112.00"]


def test_buy_stop_is_entry_minus_atr_multiple_and_targets_are_r_multiples() -> None:
    signal = accepted()
    assert signal.stop == Decimal("96.00")
    assert signal.targets == (Decimal("106.00"), Decimal("112.00"))
    assert signal.target_r_multiples == (Decimal("1.50"), Decimal("3.00"))
    assert signal.risk_reward == Decimal("1.50")


def test_sell_mirrors_buy() -> None:
    signal = accepted(analysis("bearish"))
    assert signal.stop == Decimal("104.00")
    assert signal.targets == (Decimal("94.00"), Decimal("88.00"))
    assert signal.target_r_multiples == (Decimal("1.50"), Decimal("3.00"))
    assert signal.suggested_quantity == 250


def test_atr_multiple_comes_from_the_risk_limits() -> None:
    risk = RISK.model_copy(update={"stop_atr_multiple": Decimal("1.5")})
    assert accepted(risk=risk).stop == Decimal("97.00")


def test_first_atr_key_is_used() -> None:
    assert accepted(market=snapshot(latest={"atr_14": 1.0, "atr_5": 3.0})).stop == Decimal("98.00")


def test_atr_comes_from_the_bars_without_an_atr_key() -> None:
    market = snapshot(latest={"rsi_14": 60.0}, recent=bars(20, true_range=1.5))
    assert accepted(market=market).stop == Decimal("97.00")


def test_non_positive_atr_key_falls_back_to_the_bars() -> None:
    market = snapshot(latest={"atr_14": 0.0}, recent=bars(20, true_range=1.5))
    assert accepted(market=market).stop == Decimal("97.00")


def test_wilder_atr_smooths_after_the_first_average() -> None:
    """Fourteen true ranges of 2 average to 2; a fifteenth of 16 smooths to (2 x 13 + 16) / 14 = 3."""
    history = list(bars(15, true_range=2.0))
    last = history[-1].model_copy(update={"time": NOW, "high": 108.0, "low": 92.0})
    assert wilder_atr([*history, last]) == Decimal(3)


def test_wilder_atr_counts_gaps_against_the_previous_close() -> None:
    history = list(bars(15, close=100.0, true_range=2.0))
    gap = Bar(time=NOW, open=115.0, high=116.0, low=114.0, close=115.0, volume=1.0)
    assert wilder_atr([*history, gap]) == (2 * 13 + Decimal(16)) / 14


def test_wilder_atr_needs_period_plus_one_bars() -> None:
    assert wilder_atr(bars(14)) is None
    assert wilder_atr(bars(15)) == Decimal(2)


def test_atr_unavailable_is_rejected_with_the_candidate() -> None:
    outcome = rejected(analysis(), snapshot(latest={"rsi_14": 60.0}, recent=bars(10)))
    assert outcome.rule == "atr_unavailable"
    assert "10 recent bars are too few for ATR(14), which needs 15" in outcome.reason
    assert (outcome.candidate.action, outcome.candidate.entry, outcome.candidate.stop) == (
        Action.BUY,
        Decimal("100.00"),
        None,
    )


def test_flat_bars_without_atr_are_rejected() -> None:
    outcome = rejected(analysis(), snapshot(latest={}, recent=bars(20, true_range=0.0)))
    assert outcome.rule == "atr_unavailable"
    assert "are flat" in outcome.reason


def test_suggested_stop_on_the_loss_side_is_used() -> None:
    assert accepted(analysis(stop=97.5)).stop == Decimal("97.50")


def test_suggested_stop_on_the_wrong_side_is_replaced_by_the_atr_stop() -> None:
    signal = accepted(analysis(stop=101.0))
    assert signal.stop == Decimal("96.00")
    assert any("suggested 101.0 was on the wrong side or too far" in reason for reason in signal.reasons)


def test_suggested_stop_up_to_three_atr_stops_away_is_used() -> None:
    """ATR 2 and a 2-ATR stop allow a suggested stop up to 12 away."""
    assert accepted(analysis(stop=88.0, targets=(130.0,))).stop == Decimal("88.00")


def test_suggested_stop_beyond_three_atr_stops_is_replaced() -> None:
    assert accepted(analysis(stop=87.99)).stop == Decimal("96.00")


def test_suggested_sell_stop_above_entry_is_used() -> None:
    assert accepted(analysis("bearish", stop=102.5)).stop == Decimal("102.50")


def test_stops_round_away_from_the_entry() -> None:
    assert accepted(analysis(stop=97.559)).stop == Decimal("97.55")
    assert accepted(analysis("bearish", stop=102.341)).stop == Decimal("102.35")


def test_suggested_targets_on_the_profit_side_are_used_nearest_first() -> None:
    signal = accepted(analysis(targets=(110.0, 95.0, 108.0)))
    assert signal.targets == (Decimal("108.00"), Decimal("110.00"))
    assert signal.target_r_multiples == (Decimal("2.00"), Decimal("2.50"))
    assert signal.risk_reward == Decimal("2.00")


def test_suggested_sell_targets_are_nearest_first() -> None:
    signal = accepted(analysis("bearish", targets=(90.0, 92.0, 104.0)))
    assert signal.targets == (Decimal("92.00"), Decimal("90.00"))


def test_suggested_targets_all_on_the_wrong_side_fall_back_to_r_multiples() -> None:
    assert accepted(analysis(targets=(95.0, 99.0))).targets == (Decimal("106.00"), Decimal("112.00"))


def test_suggested_targets_round_towards_the_entry() -> None:
    assert accepted(analysis(targets=(108.559,))).targets == (Decimal("108.55"),)
    assert accepted(analysis("bearish", targets=(91.441,))).targets == (Decimal("91.45"),)


def test_r_multiple_targets_reach_their_multiple_after_rounding() -> None:
    """ATR 3.1234: stop 143.7532 rounds down to 143.75 (risk 6.25); 1.5R = 159.375 rounds up to 159.38."""
    signal = accepted(market=snapshot(150.0, latest={"atr_14": 3.1234}))
    assert signal.stop == Decimal("143.75")
    assert signal.targets[0] == Decimal("159.38")
    assert signal.risk_reward == Decimal("1.50")


def test_buy_stop_below_zero_is_rejected_as_stop_wrong_side() -> None:
    outcome = rejected(analysis(), snapshot(10.0, latest={"atr_14": 6.0}))
    assert outcome.rule == "stop_wrong_side"
    assert outcome.reason == "BUY stop -2.00 must be between 0 and the entry 10.00"
    assert outcome.candidate.stop == Decimal("-2.00")


def test_sell_target_below_zero_is_rejected_as_target_wrong_side() -> None:
    outcome = rejected(analysis("bearish"), snapshot(10.0, latest={"atr_14": 2.0}))
    assert outcome.rule == "target_wrong_side"
    assert outcome.reason == "SELL targets must be between 0 and the entry 10.00; got -2.00"
    assert outcome.candidate.targets == (Decimal("4.00"), Decimal("-2.00"))


def test_first_target_below_min_risk_reward_is_rejected() -> None:
    outcome = rejected(analysis(targets=(105.0, 120.0)))
    assert outcome.rule == "min_risk_reward"
    assert outcome.reason == (
        "the first target 105.00 is 1.25R from the entry 100.00 (risk 4.00 to the stop 96.00), below the minimum 1.5R"
    )
    assert outcome.candidate.risk_reward == Decimal("1.25")


def test_min_risk_reward_comes_from_the_risk_limits() -> None:
    risk = RISK.model_copy(update={"min_risk_reward": Decimal("1.2")})
    assert accepted(analysis(targets=(105.0,)), risk=risk).risk_reward == Decimal("1.25")


def test_first_target_too_close_to_entry_is_rejected_as_min_profit_margin() -> None:
    """ATR 0.1: risk 0.20, so the 1.5R target is only 0.30 (0.3 %) above the entry."""
    outcome = rejected(analysis(), snapshot(latest={"atr_14": 0.1}))
    assert outcome.rule == "min_profit_margin"
    assert outcome.reason == (
        "the first target 100.30 is 0.30 % from the entry 100.00, below the minimum profit margin 1.00 %"
    )


def test_rejections_are_checked_in_order() -> None:
    """A target both under 1.5R and under 1 % of the entry is reported as min_risk_reward."""
    assert rejected(analysis(targets=(100.5,)), snapshot(latest={"atr_14": 0.5})).rule == "min_risk_reward"


def test_quantity_is_account_risk_over_stop_distance_floored() -> None:
    """1 000 at risk over a 3.33 stop distance is 300.3 shares: 300."""
    assert accepted(analysis(stop=96.67)).suggested_quantity == 300


def test_quantity_uses_exact_decimal_arithmetic() -> None:
    """1 000 / (100.00 - 99.80) is exactly 5 000; in binary floating point it floors to 4 999."""
    signal = accepted(analysis(stop=99.8, targets=(101.5,)), snapshot(latest={"atr_14": 0.1}))
    assert signal.suggested_quantity == 5000


def test_quantity_follows_account_size_and_risk_per_trade() -> None:
    risk = RISK.model_copy(update={"account_size": Decimal(25_000), "risk_per_trade": Decimal("0.02")})
    assert accepted(risk=risk).suggested_quantity == 125


def test_expiry_is_now_plus_the_ttl() -> None:
    risk = RISK.model_copy(update={"signal_ttl_hours": 6})
    assert accepted(risk=risk).expires_at == NOW + timedelta(hours=6)
    assert accepted(analysis("neutral"), risk=risk).expires_at == NOW + timedelta(hours=6)


def test_reasons_are_the_key_factors_then_the_rule_notes() -> None:
    assert accepted().reasons == (
        "SuperTrend up",
        "RSI 14 at 62.0",
        "stop 96.00 at 2 x ATR 2 from the entry",
        "targets 106.00, 112.00 at 1.5R, 3R",
    )


def test_signal_carries_the_analysts_model_confidence_and_symbol() -> None:
    signal = accepted(analysis(confidence=77))
    assert (signal.model, signal.confidence, signal.symbol) == ("offline-rules-v1", 77, STOCK)


def test_same_inputs_give_the_same_decision() -> None:
    assert decide(analysis(), snapshot(), RISK, NOW) == decide(analysis(), snapshot(), RISK, NOW)


@pytest.mark.parametrize("bias", ["bullish", "bearish"])
def test_accepted_signals_keep_stop_and_targets_on_their_sides(bias: Bias) -> None:
    signal = accepted(analysis(bias))
    assert signal.entry is not None
    assert signal.stop is not None
    direction = 1 if bias == "bullish" else -1
    assert direction * (signal.entry - signal.stop) > 0
    assert all(direction * (target - signal.entry) > 0 for target in signal.targets)
