"""Live trading needs both switches; paper is the default; the guardrails come from the environment."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tradelane.broker.app import build
from tradelane.broker.config import BrokerSettings, LiveTradingNotConfirmedError
from tradelane.contracts.ceilings import TradingCeilings
from tradelane.contracts.trading import Venue


def test_paper_on_the_built_in_simulator_is_the_default() -> None:
    settings = BrokerSettings()
    assert (settings.broker_venue, settings.trading_mode) == (Venue.PAPER, "paper")
    assert settings.trading_mode_problem() is None


def test_live_mode_without_the_confirmation_refuses_to_build() -> None:
    settings = BrokerSettings(broker_venue=Venue.IB, trading_mode="live")
    with pytest.raises(LiveTradingNotConfirmedError, match="TRADELANE_LIVE_TRADING_CONFIRM=yes"):
        build(settings)


def test_live_mode_on_the_paper_simulator_refuses_to_build() -> None:
    settings = BrokerSettings(trading_mode="live", live_trading_confirm="yes")
    with pytest.raises(LiveTradingNotConfirmedError, match="TRADELANE_BROKER_VENUE=ib"):
        build(settings)


def test_live_mode_with_both_switches_is_allowed() -> None:
    settings = BrokerSettings(broker_venue=Venue.IB, trading_mode="live", live_trading_confirm="yes")
    assert settings.trading_mode_problem() is None


def test_the_switches_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADELANE_BROKER_VENUE", "ib")
    monkeypatch.setenv("TRADELANE_TRADING_MODE", "live")
    monkeypatch.setenv("TRADELANE_LIVE_TRADING_CONFIRM", "yes")
    settings = BrokerSettings()
    assert (settings.broker_venue, settings.trading_mode, settings.live_trading_confirm) == (Venue.IB, "live", "yes")


def test_the_guardrails_default_to_a_5_percent_collar_and_the_default_ceilings() -> None:
    guards = BrokerSettings().guards
    assert (guards.price_collar, guards.ceilings) == (Decimal("0.05"), TradingCeilings())


def test_the_collar_and_the_ceilings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADELANE_BROKER_PRICE_COLLAR", "0.02")
    monkeypatch.setenv("TRADELANE_TRADING_CEILINGS", '{"max_order_notional": "5000", "max_open_positions": 2}')
    guards = BrokerSettings().guards
    assert guards.price_collar == Decimal("0.02")
    assert (guards.ceilings.max_order_notional, guards.ceilings.max_open_positions) == (Decimal(5000), 2)


def test_a_collar_of_zero_or_above_100_percent_is_refused() -> None:
    with pytest.raises(ValueError, match="broker_price_collar"):
        BrokerSettings(broker_price_collar=Decimal(0))
    with pytest.raises(ValueError, match="broker_price_collar"):
        BrokerSettings(broker_price_collar=Decimal("1.5"))
