"""Live trading needs both switches; paper is the default."""

from __future__ import annotations

import pytest

from tradelane.broker.app import build
from tradelane.broker.config import BrokerSettings, LiveTradingNotConfirmedError
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
