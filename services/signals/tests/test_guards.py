"""The guardrails on a model's numbers: finite and positive prices, the entry collar, the price band, the sizing cap."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar
from uuid import uuid4

import pytest
from pydantic import BaseModel

from tradelane.contracts.envelope import BacktestTag
from tradelane.contracts.events import Action, Analysis, AnalysisCompleted, Bias, SignalGenerated, SignalRejected
from tradelane.contracts.market import MarketSnapshot, ResolvedSymbol
from tradelane.contracts.strategy import AssetType, BarSize, RiskLimits, StrategyDefinition, SymbolRef
from tradelane.signals.config import SignalsSettings
from tradelane.signals.guards import SignalGuards
from tradelane.signals.handlers import SignalMaker
from tradelane.signals.rules import Accepted, Rejected, decide

NOW = datetime(2025, 6, 13, 21, 0, tzinfo=UTC)
STOCK = ResolvedSymbol(conid=1, symbol="TEST", exchange="NASDAQ", currency="USD", asset_type=AssetType.STOCK)
BTC = ResolvedSymbol(
    conid=2, symbol="BTC", exchange="PAXOS", currency="USD", asset_type=AssetType.CRYPTO, min_tick=0.01
)
RISK = RiskLimits()
ModelT = TypeVar("ModelT", bound=BaseModel)


def snapshot(close: float = 100.0, atr: float = 2.0, symbol: ResolvedSymbol = STOCK) -> MarketSnapshot:
    return MarketSnapshot(
        symbol=symbol,
        bar_size=BarSize.DAY_1,
        last_bar_time=NOW - timedelta(days=1),
        last_close=close,
        recent_bars=(),
        latest={"atr_14": atr},
        previous={},
    )


def analysis(
    bias: Bias = "bullish",
    entry: float | None = None,
    stop: float | None = None,
    targets: tuple[float, ...] = (),
) -> Analysis:
    return Analysis(
        bias=bias,
        trend="uptrend" if bias == "bullish" else "downtrend",
        confidence=80,
        suggested_entry=entry,
        suggested_stop=stop,
        suggested_targets=targets,
        model="fake-model",
    )


def unchecked(model: ModelT, **fields: Any) -> ModelT:
    """``model`` with ``fields`` set past validation.

    The contracts refuse a NaN or an infinity (on the bus, and in a model's reply); the guards
    are the second line for a reading built without them, and are tested so.
    """
    return model.model_copy(update=fields)


def rejected(reading: Analysis, market: MarketSnapshot | None = None, guards: SignalGuards | None = None) -> Rejected:
    outcome = decide(reading, market or snapshot(), RISK, NOW, guards or SignalGuards())
    assert isinstance(outcome, Rejected), outcome
    return outcome


def accepted(reading: Analysis, market: MarketSnapshot | None = None, guards: SignalGuards | None = None) -> Accepted:
    outcome = decide(reading, market or snapshot(), RISK, NOW, guards or SignalGuards())
    assert isinstance(outcome, Accepted), outcome
    return outcome


def test_the_incident_a_sell_at_1_for_btc_near_61000_is_rejected_by_the_entry_collar() -> None:
    """The fake model's answer: SELL, entry 1.00, stop 1.50, targets 0.50 and 0.25, with BTC at 61,000."""
    outcome = rejected(analysis("bearish", entry=1.00, stop=1.50, targets=(0.50, 0.25)), snapshot(61_000.0, 900.0, BTC))
    assert outcome.rule == "entry_collar"
    assert outcome.reason == (
        "the entry 1.00 is 60999 from the last close 61000.0, beyond the entry collar 2700 = "
        "min(3 x ATR 900, 0.10 x last close)"
    )
    assert (outcome.candidate.action, outcome.candidate.entry, outcome.candidate.suggested_quantity) == (
        Action.SELL,
        Decimal("1.00"),
        None,
    )


@pytest.mark.parametrize(
    ("reading", "named"),
    [
        (unchecked(analysis(), suggested_entry=math.inf), "suggested entry inf"),
        (unchecked(analysis(), suggested_stop=math.inf), "suggested stop inf"),
        (unchecked(analysis(), suggested_targets=(math.nan,)), "suggested target nan"),
        (unchecked(analysis(), suggested_targets=(106.0, -math.inf)), "suggested target 2 -inf"),
    ],
)
def test_a_price_that_is_not_finite_is_rejected_naming_it(reading: Analysis, named: str) -> None:
    outcome = rejected(reading)
    assert outcome.rule == "price_not_finite"
    assert named in outcome.reason
    assert outcome.candidate.entry is None


@pytest.mark.parametrize(("targets", "named"), [((0.0,), "suggested target 0.0"), ((106.0, -5.0), "target 2 -5.0")])
def test_a_price_at_or_below_zero_is_rejected_naming_it(targets: tuple[float, ...], named: str) -> None:
    outcome = rejected(analysis(targets=targets))
    assert outcome.rule == "price_not_positive"
    assert named in outcome.reason


def test_a_neutral_analysis_with_unusable_numbers_is_still_a_hold() -> None:
    """A HOLD places nothing, so its numbers are never used and never checked."""
    assert accepted(unchecked(analysis("neutral"), suggested_targets=(math.nan,))).signal.action == Action.HOLD


def test_an_infinite_atr_value_is_not_used() -> None:
    outcome = decide(analysis(), unchecked(snapshot(), latest={"atr_14": math.inf}), RISK, NOW)
    assert isinstance(outcome, Rejected)
    assert outcome.rule == "atr_unavailable"


def test_the_entry_collar_is_k_atr_when_that_is_tighter() -> None:
    """ATR 2 x 3 = 6 is tighter than 10 % of 100: 106 is in, 106.01 is out."""
    assert accepted(analysis(entry=106.0, targets=(120.0,))).signal.entry == Decimal("106.00")
    outcome = rejected(analysis(entry=106.01))
    assert outcome.rule == "entry_collar"
    assert "beyond the entry collar 6 = min(3 x ATR 2, 0.10 x last close)" in outcome.reason


def test_the_entry_collar_is_the_percentage_cap_when_the_atr_is_implausibly_wide() -> None:
    """ATR 40 would allow 120 away; 10 % of 100 caps it at 10."""
    outcome = rejected(analysis(entry=89.0), snapshot(atr=40.0))
    assert outcome.rule == "entry_collar"
    assert "beyond the entry collar 10 = min(3 x ATR 40, 0.10 x last close)" in outcome.reason


def test_the_entry_collar_applies_below_the_close_too() -> None:
    assert rejected(analysis("bearish", entry=93.0)).rule == "entry_collar"


def test_the_collar_comes_from_the_guards() -> None:
    wide = SignalGuards(entry_collar_atr=Decimal(5))
    assert accepted(analysis(entry=108.0, targets=(125.0,)), guards=wide).signal.entry == Decimal("108.00")


def test_a_suggested_target_beyond_the_price_band_is_rejected() -> None:
    """The band is min(30 x ATR 2, 50 % of 100) = 50: a target at 151 is too far."""
    outcome = rejected(analysis(targets=(151.0,)))
    assert outcome.rule == "price_band"
    assert outcome.reason == (
        "target 151.00 lies farther from the last close 100.0 than the price band 50 = "
        "min(30 x ATR 2, 0.50 x last close)"
    )


def test_a_target_inside_the_band_is_accepted() -> None:
    assert accepted(analysis(targets=(150.0,))).signal.targets == (Decimal("150.00"),)


def test_a_stop_beyond_the_price_band_is_rejected() -> None:
    """A 2-ATR stop is 4 from the entry; a band of 3 ATRs (6) leaves it in, a band of 1.5 ATRs (3) does not."""
    assert accepted(analysis(), guards=SignalGuards(price_band_atr=Decimal(7))).signal.stop == Decimal("96.00")
    outcome = rejected(analysis(), guards=SignalGuards(price_band_atr=Decimal("1.5")))
    assert outcome.rule == "price_band"
    assert outcome.reason.startswith("stop 96.00, target 106.00, target 112.00 lie farther from the last close 100.0")


def test_a_wrong_side_target_is_reported_before_the_band() -> None:
    assert rejected(analysis("bearish"), snapshot(10.0, 2.0)).rule == "target_wrong_side"


def test_the_quantity_is_sized_from_at_most_the_account_size_ceiling() -> None:
    """A strategy claiming a 10-billion account sizes as if it had the ceiling: 1 % of 1,000,000 over 4 is 2,500."""
    risk = RISK.model_copy(update={"account_size": Decimal(10_000_000_000)})
    outcome = decide(analysis(), snapshot(), risk, NOW, SignalGuards())
    assert isinstance(outcome, Accepted)
    assert outcome.signal.suggested_quantity == 2500
    assert "sized from the account size ceiling 1000000, not the strategy's 10000000000" in outcome.signal.reasons


def test_settings_default_to_the_documented_guards() -> None:
    assert SignalsSettings().guards == SignalGuards()


def test_settings_read_the_collar_and_the_sizing_ceiling_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADELANE_SIGNAL_ENTRY_COLLAR_FRACTION", "0.02")
    monkeypatch.setenv("TRADELANE_TRADING_CEILINGS", '{"max_sizing_equity": "50000"}')
    guards = SignalsSettings().guards
    assert (guards.entry_collar_fraction, guards.max_account_size) == (Decimal("0.02"), Decimal(50_000))


async def test_the_service_handler_applies_its_guards() -> None:
    strategy = StrategyDefinition(name="btc", symbol=SymbolRef(symbol="BTC", asset_type=AssetType.CRYPTO))
    message = AnalysisCompleted(
        execution_id=uuid4(),
        strategy_id=uuid4(),
        strategy=strategy,
        snapshot=snapshot(61_000.0, 900.0, BTC),
        analysis=analysis("bearish", entry=60_000.0),
    )
    strict = SignalMaker(SignalGuards(entry_collar_fraction=Decimal("0.01")), clock=lambda: NOW)
    loose = SignalMaker(SignalGuards(), clock=lambda: NOW)
    refused = await strict.on_analysis_completed(message)
    assert isinstance(refused, SignalRejected)
    assert refused.rule == "entry_collar"
    assert isinstance(await loose.on_analysis_completed(message), SignalGenerated)


async def test_a_backtest_decision_expires_from_its_own_point_in_time_not_the_clock() -> None:
    strategy = StrategyDefinition(name="btc", symbol=SymbolRef(symbol="BTC", asset_type=AssetType.CRYPTO))
    decided_at = NOW - timedelta(days=200)
    message = AnalysisCompleted(
        execution_id=uuid4(),
        strategy_id=uuid4(),
        strategy=strategy,
        snapshot=snapshot(61_000.0, 900.0, BTC),
        analysis=analysis("bullish", entry=61_000.0),
        backtest=BacktestTag(backtest_id=uuid4(), variant="base", seq=0, decided_at=decided_at),
    )
    signal = await SignalMaker(clock=lambda: NOW).on_analysis_completed(message)
    assert isinstance(signal, SignalGenerated)
    assert signal.backtest == message.backtest
    assert signal.signal.expires_at == decided_at + timedelta(hours=strategy.risk.signal_ttl_hours)
