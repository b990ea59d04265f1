"""The hard ceilings on the risk limits: which limits break them, and the limits the broker enforces."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from tradelane.contracts.ceilings import LIMIT_CEILINGS, TradingCeilings
from tradelane.contracts.trading import TradingLimits


def test_the_default_limits_are_within_the_default_ceilings() -> None:
    assert TradingCeilings().violations(TradingLimits()) == []


def test_every_limit_above_its_ceiling_is_named_with_the_ceiling() -> None:
    limits = TradingLimits(max_position_notional=Decimal(1_000_000), max_open_positions=50)
    violations = TradingCeilings().violations(limits)
    assert [(v.field, v.ceiling) for v in violations] == [
        ("max_position_notional", "max_position_notional"),
        ("max_open_positions", "max_open_positions"),
    ]
    assert violations[0].describe() == (
        "max_position_notional 1000000 is above the ceiling max_position_notional = 100000, which only the operator "
        "can raise (environment variable TRADELANE_TRADING_CEILINGS)"
    )


def test_a_limit_at_its_ceiling_is_allowed() -> None:
    assert TradingCeilings().violations(TradingLimits(risk_per_trade=Decimal("0.05"))) == []


def test_clamping_lowers_each_limit_to_its_ceiling_and_keeps_the_rest() -> None:
    ceilings = TradingCeilings(max_order_quantity=Decimal(5), max_daily_loss_limit=Decimal(500))
    clamped = ceilings.clamp(TradingLimits(max_order_quantity=Decimal(10_000), risk_per_trade=Decimal("0.01")))
    assert (clamped.max_order_quantity, clamped.daily_loss_limit, clamped.risk_per_trade) == (
        Decimal(5),
        Decimal(500),
        Decimal("0.01"),
    )


def test_every_ceiling_of_a_limit_is_a_field_of_both() -> None:
    assert set(LIMIT_CEILINGS) <= set(TradingLimits.model_fields)
    assert set(LIMIT_CEILINGS.values()) <= set(TradingCeilings.model_fields)


def test_a_ceiling_must_be_positive() -> None:
    with pytest.raises(ValidationError, match="max_order_notional"):
        TradingCeilings(max_order_notional=Decimal(0))
